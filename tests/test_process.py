"""The server as a real process: SIGTERM mid-stream drains gracefully and exits 0; bad model files refuse to start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import grpc
import pytest
from server_process import start_server
from synth import speech_like

from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc

pytestmark = pytest.mark.slow  # every test runs speechsense-server as a process


def test_sigterm_mid_stream_sends_remaining_windows_and_summary(tiny_model_path, tmp_path):
    proc, port = start_server(tiny_model_path, "--grace-seconds", "5", log=tmp_path / "server.log")
    try:
        pcm = (speech_like(5.0) * 32767).astype("<i2").tobytes()

        def live():
            yield pb.StreamEmotionsRequest(config=pb.StreamConfig(format=pb.AudioFormat(
                encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=16000)))
            yield pb.StreamEmotionsRequest(audio=pcm)
            time.sleep(30)  # a microphone that keeps the stream open

        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = emotion_pb2_grpc.EmotionServiceStub(channel).StreamEmotions(live(), timeout=30)
            assert next(call).window.index == 0
            proc.send_signal(signal.SIGTERM)
            rest = list(call)
        assert [r.window.index for r in rest[:-1]] == [1, 2]
        assert rest[-1].summary.windows_analyzed == 3
        assert proc.wait(20) == 0
        log = (tmp_path / "server.log").read_text()
        assert "stream closed" in log and "outcome=OK" in log
        assert "(metrics off)" in log  # not "metrics on off"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("content", [None, b"\x08\x01garbage"])
def test_missing_or_corrupt_model_refuses_to_start(tmp_path, content):
    model = tmp_path / "model.onnx"
    if content is not None:
        model.write_bytes(content)
    out = subprocess.run([sys.executable, "-m", "speechsense.server.main", "--model", str(model), "--port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert str(model) in out.stderr and "--model" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def server_error(*args: str) -> str:
    """Run the server with args that must stop it at start; return its stderr, checked to be one line."""
    out = subprocess.run([sys.executable, "-m", "speechsense.server.main", *args], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


@pytest.fixture
def busy_port():
    """A port someone else is listening on (all IPv4 addresses, as a stray server would)."""
    import socket

    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize("host", ["127.0.0.1", "[::]"])
def test_port_in_use_is_one_line_naming_it(tiny_model_path, busy_port, host):
    line = server_error("--model", str(tiny_model_path), "--host", host, "--port", str(busy_port))
    assert f"port {busy_port} is already in use" in line and "--port" in line and "metrics" not in line


def test_metrics_port_in_use_says_it_is_the_metrics_port(tiny_model_path, busy_port):
    line = server_error("--model", str(tiny_model_path), "--port", "0", "--metrics-port", str(busy_port))
    assert f"metrics port {busy_port} is already in use" in line and "--metrics-port" in line


def test_wrong_model_name_lists_the_bundled_names():
    line = server_error("--model", "hybird", "--port", "0")
    assert "hybird" in line and "hybrid, encoder" in line


def test_help_shows_no_empty_defaults():
    out = subprocess.run([sys.executable, "-m", "speechsense.server.main", "--help"], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "200"}, timeout=60)
    assert "(default: None)" not in out.stdout
    assert "default: the bundled default model" in out.stdout and "(default: 50051)" in out.stdout


def test_web_port_in_use_is_one_line_naming_it(tiny_model_path, busy_port):
    line = server_error("--model", str(tiny_model_path), "--port", "0", "--web-port", str(busy_port))
    assert f"web port {busy_port} is already in use" in line and "--web-port" in line


@pytest.mark.parametrize("bad", ["missing", "not-pem"])
def test_bad_tls_files_are_one_line_naming_the_flag(tiny_model_path, tmp_path, bad):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    if bad == "not-pem":
        cert.write_text("not a certificate\n")
        key.write_text("not a key\n")
    line = server_error("--model", str(tiny_model_path), "--port", "0", "--tls-cert", str(cert), "--tls-key", str(key))
    assert "--tls-cert" in line and str(cert) in line
