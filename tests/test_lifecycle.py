"""Health, reflection, graceful shutdown, and the command line, against real servers."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from synth import speech_like

from speechsense.server.model import EmotionModel, ModelLoadError
from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc


def test_health_serving_and_reflection(server_address):
    with grpc.insecure_channel(server_address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "speechsense.v1.EmotionService"):
            status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        reply = next(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        names = {s.name for s in reply.list_services_response.service}
        assert {"speechsense.v1.EmotionService", "grpc.health.v1.Health"} <= names


def test_sigterm_style_shutdown_finishes_open_streams(server_factory):
    server = server_factory(grace_seconds=5)
    pcm = (speech_like(4.5) * 32767).astype("<i2").tobytes()
    sent = threading.Event()

    def requests():
        yield pb.StreamEmotionsRequest(config=pb.StreamConfig(format=pb.AudioFormat(
            encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=16000)))
        yield pb.StreamEmotionsRequest(audio=pcm)
        sent.set()
        time.sleep(30)  # a live microphone that never half-closes

    with grpc.insecure_channel(server.address) as channel:
        stub = emotion_pb2_grpc.EmotionServiceStub(channel)
        call = stub.StreamEmotions(requests(), timeout=20)
        first = next(call)
        assert first.window.index == 0 and sent.wait(5)
        rest = server.read_rest_while_stopping(call, grace=5)
    assert [r.window.index for r in rest[:-1]] == [1]
    assert rest[-1].summary.windows_analyzed == 2
    assert rest[-1].summary.audio_seconds == pytest.approx(4.5)
    assert rest[-1].summary.end_reason == pb.END_REASON_SERVER_SHUTDOWN


def test_draining_server_refuses_new_streams(server_factory):
    server = server_factory()
    server.server.analyzer.begin_drain()
    with grpc.insecure_channel(server.address) as channel:
        stub = emotion_pb2_grpc.EmotionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=b"x"), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_missing_and_corrupt_model_refused(tmp_path, base_options):
    with pytest.raises(ModelLoadError, match="does not exist"):
        EmotionModel(tmp_path / "nope.onnx", base_options.engine)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="bad.onnx"):
        EmotionModel(bad, base_options.engine)


@pytest.mark.slow  # two server processes
def test_cli_help_names_the_flags_and_a_missing_model_stops_the_start():
    out = subprocess.run([sys.executable, "-m", "speechsense.server.main", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for flag in ("--port", "--model", "--metrics-port", "SPEECHSENSE_MAX_STREAMS", "--grace-seconds"):
        assert flag in out.stdout
    bad = subprocess.run([sys.executable, "-m", "speechsense.server.main", "--model", "/nonexistent.onnx"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "/nonexistent.onnx" in bad.stderr
