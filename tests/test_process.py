"""The server as a real process: SIGTERM mid-stream drains gracefully and exits 0; bad model files refuse to start."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from synth import speech_like

from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc


def start_server(model, log: Path, *extra: str, port: int = 0) -> tuple[subprocess.Popen, int]:
    """Start speechsense-server (port 0: a free one); return it once its log says it listens and is warm."""
    with open(log, "w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "speechsense.server.main", "--model", str(model),
                                 "--port", str(port), "--host", "127.0.0.1", *extra], stderr=sink)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if m := re.search(r"listening on \S+:(\d+)", log.read_text()):
            return proc, int(m.group(1))
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


def test_sigterm_mid_stream_sends_remaining_windows_and_summary(tiny_model_path, tmp_path):
    proc, port = start_server(tiny_model_path, tmp_path / "server.log", "--grace-seconds", "5")
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
    assert str(model) in out.stderr
