"""A new user's mistakes and the client's output off a terminal: one clear line, plain plurals, a clear order."""

from __future__ import annotations

import io
import time

import pytest
import soundfile as sf
from synth import speech_like

from speechsense.client.display import RichSink, console_for
from speechsense.client.main import main
from speechsense.client.results import SummaryView
from speechsense.labels import LABELS
from speechsense.v1 import emotion_pb2 as pb

UNREACHABLE = "127.0.0.1:9"  # nothing listens there: a test that got as far as connecting would fail slowly


def one_error_line(capsys, *argv: str) -> str:
    start = time.monotonic()
    assert main(["--server", UNREACHABLE, "--retries", "0", *argv]) == 1
    assert time.monotonic() - start < 5, "the mistake must be found before any streaming"
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_missing_file_is_named(capsys, tmp_path):
    missing = tmp_path / ("a-rather-long-folder-name-" * 3) / "nope.flac"  # longer than 80 columns
    line = one_error_line(capsys, "--file", str(missing))
    assert line == f"error: {missing}: no such file"


def test_plot_into_a_missing_folder_fails_before_streaming(capsys, tmp_path):
    clip = tmp_path / "clip.wav"
    sf.write(clip, speech_like(2.0), 16000)
    line = one_error_line(capsys, "--file", str(clip), "--plot", str(tmp_path / "no-such-dir" / "s.png"))
    assert "--plot folder" in line and "no-such-dir" in line and "does not exist" in line
    line = one_error_line(capsys, "--file", str(clip), "--plot", str(tmp_path))
    assert "is a folder" in line


def summary_proto(counts: dict[str, int], windows: int) -> pb.SessionSummary:
    return pb.SessionSummary(mean_scores=[pb.LabelScore(label=lab, score=0.1 + 0.01 * i) for i, lab in
                                          enumerate(LABELS)], dominant_label="sad", top_label_counts=counts,
                             audio_seconds=3.0, windows_analyzed=windows)


def test_summary_counts_in_a_clear_order():
    # map order on the wire is arbitrary; ties rank in the model's label order (that of the score table)
    counts = {"surprised": 1, "sad": 3, "happy": 1, "angry": 1, "calm": 0}
    view = SummaryView.from_proto(summary_proto(counts, 6))
    assert list(view.top_label_counts) == [lab for lab in LABELS if lab in counts]  # JSON: the model's order
    assert view.ranked_counts() == [("sad", 3), ("happy", 1), ("angry", 1), ("surprised", 1)]
    out = io.StringIO()
    RichSink(console_for(out)).summary(view)
    assert "(top label per window: sad 3, happy 1, angry 1, surprised 1)" in out.getvalue()


@pytest.mark.parametrize(("windows", "words"), [(1, "1 window (1 speech"), (2, "2 windows (2 speech")])
def test_summary_plurals(windows, words):
    out = io.StringIO()
    RichSink(console_for(out)).summary(SummaryView.from_proto(summary_proto({"sad": windows}, windows)))
    assert words in out.getvalue()


def test_no_wrapping_at_80_columns_off_a_terminal():
    out = io.StringIO()
    console_for(out).print("x" * 150)
    assert out.getvalue() == "x" * 150 + "\n"
