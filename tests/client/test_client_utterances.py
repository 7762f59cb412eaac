"""--utterances end to end against a real in-process server: terminal, JSON Lines, plot and reconnects."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf
from synth import RATE, silence, syllables

from speechsense.client.connection import Connector
from speechsense.client.main import main, run_client
from speechsense.client.options import ClientOptions, OptionsError
from speechsense.client.session import StreamSession
from speechsense.client.sources import FileSource
from speechsense.labels import LABELS

SPANS = [(1.0, 3.0), (4.5, 6.0), (7.0, 9.5)]  # seconds of speech in talk_file


@pytest.fixture
def talk_file(tmp_path):
    """Three utterances (SPANS) between silences, as a 16 kHz WAV."""
    parts, pos = [], 0.0
    for k, (start, end) in enumerate(SPANS):
        parts += [silence(start - pos, seed=k), syllables(end - start, seed=k)]
        pos = end
    parts.append(silence(1.0))
    path = tmp_path / "talk.wav"
    sf.write(path, np.concatenate(parts), RATE)
    return path


def test_terminal_shows_each_utterance_and_plot_draws_spans(server_address, talk_file, client_options, tmp_path):
    out, plot = io.StringIO(), tmp_path / "talk.png"
    result = run_client(client_options(server_address, file=talk_file, fast=True, utterances=True, plot=plot),
                        out, io.StringIO())
    assert not result.windows and [u.index for u in result.utterances] == [0, 1, 2]
    for u, (start, end) in zip(result.utterances, SPANS, strict=True):
        assert u.start_seconds == pytest.approx(start, abs=0.1) and u.end_seconds == pytest.approx(end, abs=0.1)
        assert tuple(u.scores) == LABELS and u.top_label in LABELS
    text = out.getvalue()
    heads = [line for line in text.splitlines() if line.startswith("utterance ")]
    assert len(heads) == 3 and all("top: " in h and " s  (" in h for h in heads)
    assert f"{result.utterances[1].start_seconds:6.2f}–{result.utterances[1].end_seconds:6.2f} s" in heads[1]
    assert "3 utterances" in text and "top label per utterance" in text and "█" in text
    assert result.summary.utterance_mode and result.summary.utterances_analyzed == 3
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_lines_one_per_utterance(server_address, talk_file, monkeypatch, capsys):
    monkeypatch.setenv("SPEECHSENSE_SERVER", server_address)
    assert main(["--file", str(talk_file), "--fast", "--json", "--utterances", "--closing-silence", "0.4"]) == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    utterances, summary = objs[:-1], objs[-1]
    assert [o["type"] for o in utterances] == ["utterance"] * 3 and [o["index"] for o in utterances] == [0, 1, 2]
    assert {"start_seconds", "end_seconds", "window_count", "top_label", "scores"} <= set(utterances[0])
    assert sum(utterances[0]["scores"].values()) == pytest.approx(1, abs=1e-3)
    assert summary["type"] == "summary" and summary["utterances_analyzed"] == 3
    assert summary["windows_analyzed"] == sum(o["window_count"] for o in utterances)


def test_thresholds_need_utterances():
    with pytest.raises(OptionsError, match="need --utterances"):
        ClientOptions(min_speech_seconds=0.5)
    with pytest.raises(OptionsError, match="must not be negative"):
        ClientOptions(utterances=True, max_utterance_seconds=-1)


def test_restart_mid_stream_resumes_after_the_last_utterance(server_factory, restart_in_process, bouncing_sink,
                                                             talk_file, client_options):
    first = server_factory()
    sink = bouncing_sink(restart_in_process(first), utterance=0)
    opts = client_options(first.address, file=talk_file, utterances=True)
    result = StreamSession(opts, Connector(opts), FileSource(talk_file, speed=2.0), sink).run()
    assert sink.restarted.is_set() and result.reconnects >= 1
    assert [u.index for u in result.utterances] == [0, 1, 2] == [u.index for u in sink.utterances]
    for u, (start, end) in zip(result.utterances, SPANS, strict=True):  # times mapped back into the session
        assert u.start_seconds == pytest.approx(start, abs=0.1) and u.end_seconds == pytest.approx(end, abs=0.1)
    summary = result.summary
    assert summary.source == "client" and summary.utterances_analyzed == 3 and summary.utterance_mode
    assert summary.windows_analyzed == sum(u.window_count for u in result.utterances)
