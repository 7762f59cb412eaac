"""The file path end to end against a real in-process server, through run_client and main()."""

from __future__ import annotations

import io
import json

import pytest
from server_process import free_port

from speechsense.client.main import main, run_client
from speechsense.client.options import ClientError
from speechsense.labels import LABELS


def test_file_streams_end_to_end(server_address, clip_file, client_options, speech_clip, clip_windows, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    plot = tmp_path / "scores.png"
    result = run_client(client_options(server_address, file=clip_file, fast=True, plot=plot), out, err)
    samples, rate = speech_clip
    n = clip_windows(result.plan)
    assert n >= 3
    assert [w.index for w in result.windows] == list(range(n))
    for w in result.windows:
        assert tuple(w.scores) == LABELS
        assert w.start_seconds == pytest.approx(w.index * result.plan.hop_seconds)
    assert result.summary.source == "server" and result.reconnects == 0
    assert result.summary.windows_analyzed == n
    assert result.summary.audio_seconds == pytest.approx(len(samples) / rate, abs=0.01)
    text = out.getvalue()
    assert "session summary" in text and "dominant emotion" in text and "█" in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_lines_parse_and_nothing_else_on_stdout(server_address, clip_file, speech_clip, monkeypatch,
                                                     capsys):
    monkeypatch.setenv("SPEECHSENSE_SERVER", server_address)
    assert main(["--file", str(clip_file), "--fast", "--json", "--tag", "t1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    objs = [json.loads(line) for line in lines]
    windows, summary = objs[:-1], objs[-1]
    assert [o["type"] for o in windows] == ["window"] * len(windows) and summary["type"] == "summary"
    assert [o["index"] for o in windows] == list(range(len(windows))) and len(windows) >= 3
    assert set(windows[0]["scores"]) == set(LABELS)
    assert sum(windows[0]["scores"].values()) == pytest.approx(1, abs=1e-3)
    assert summary["windows_analyzed"] == len(windows)
    assert summary["dominant_label"] in LABELS and summary["computed_by"] == "server"


def test_short_file_gives_one_partial_window(server_address, speech_clip, client_options, tmp_path):
    import soundfile as sf

    path = tmp_path / "short.wav"
    sf.write(path, speech_clip[0][:16_000], 16_000)
    result = run_client(client_options(server_address, file=path, fast=True), io.StringIO(), io.StringIO())
    assert [w.index for w in result.windows] == [0]
    assert result.windows[0].end_seconds == pytest.approx(1.0, abs=0.01)


def test_invalid_argument_is_fatal_not_retried(server_address, clip_file, client_options):
    opts = client_options(server_address, file=clip_file, fast=True, window_seconds=30.0, hop_seconds=1.0)
    with pytest.raises(ClientError, match="INVALID_ARGUMENT"):
        run_client(opts, io.StringIO(), io.StringIO())


def test_unreachable_server_says_so_at_once_and_gives_up_after_retries(clip_file, client_options):
    port = free_port()  # a port nobody listens on
    opts = client_options(f"127.0.0.1:{port}", file=clip_file, fast=True, retries=2)
    err = io.StringIO()
    with pytest.raises(ClientError, match=f"nothing listens at 127.0.0.1:{port} .*after 2 reconnect"):
        run_client(opts, io.StringIO(), err)
    assert err.getvalue().count("retrying in") == 2
    assert err.getvalue().splitlines()[0].startswith(f"nothing listens at 127.0.0.1:{port} yet")


def test_cli_reports_errors_as_one_line(clip_file, capsys):
    assert main(["--file", str(clip_file), "--server", "nohostport"]) == 1
    assert "error: --server must be host:port" in capsys.readouterr().err
