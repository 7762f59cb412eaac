"""Bad input and limits, each over a real socket: the right status, a message naming the problem."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
from synth import speech_like

from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def config(encoding=pb.AUDIO_ENCODING_LINEAR16, rate=16000, channels=1, **window):
    return pb.StreamEmotionsRequest(config=pb.StreamConfig(
        format=pb.AudioFormat(encoding=encoding, sample_rate_hz=rate, channels=channels),
        window=pb.WindowSpec(**window)))


def audio(data: bytes):
    return pb.StreamEmotionsRequest(audio=data)


def pcm16(seconds: float) -> bytes:
    return (speech_like(seconds) * 32767).astype("<i2").tobytes()


def call_status(stub, requests) -> tuple[grpc.StatusCode, str, list]:
    got = []
    try:
        for r in stub.StreamEmotions(iter(requests), timeout=30):
            got.append(r)
    except grpc.RpcError as err:
        return err.code(), err.details(), got
    return grpc.StatusCode.OK, "", got


@pytest.mark.parametrize(("requests", "words"), [
    ([audio(b"\0\0")], "first message"),
    ([config(), audio(b"\0\0"), config()], "only the first"),
    ([config(encoding=pb.AUDIO_ENCODING_UNSPECIFIED)], "unsupported audio encoding"),
    ([config(rate=4000)], "outside 8000..48000"),
    ([config(rate=96000)], "outside 8000..48000"),
    ([config(channels=6)], "6 channels"),
    ([config(), audio(b"\0\0\0")], "3 bytes"),
    ([config(pb.AUDIO_ENCODING_FLOAT32), audio(np.array([0.1, np.nan], "<f4").tobytes())], "NaN"),
    ([config(pb.AUDIO_ENCODING_FLOAT32), audio(np.array([np.inf], "<f4").tobytes())], "infinite"),
    ([config(hop_seconds=0.01)], "hop_seconds"),
    ([config(window_seconds=30)], "window_seconds"),
    ([pb.StreamEmotionsRequest()], "first message"),
    ([], "before its config"),
])
def test_invalid_stream_input(stub, requests, words):
    code, details, _ = call_status(stub, requests)
    assert code == INVALID
    assert words in details


def test_windows_accepted_before_an_error_are_delivered(stub):
    code, details, got = call_status(stub, [config(), audio(pcm16(4.0)), audio(b"\0")])
    assert code == INVALID and "1 bytes" in details
    assert [r.window.index for r in got] == [0, 1]


@pytest.mark.parametrize("clip", [b"", b"RIFF\x00\x00garbage", np.random.default_rng(0).bytes(5000)])
def test_undecodable_clip(stub, clip):
    with pytest.raises(grpc.RpcError) as err:
        stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=clip), timeout=30)
    assert err.value.code() == INVALID and "clip" in err.value.details()


def test_clip_without_audio(stub):
    with pytest.raises(grpc.RpcError) as err:
        stub.AnalyzeClip(pb.AnalyzeClipRequest(), timeout=30)
    assert err.value.code() == INVALID and "no audio" in err.value.details()


def test_limits(server_factory):
    server = server_factory(max_stream_seconds=2.0, max_message_bytes=64 * 1024, max_clip_seconds=2.0)
    with grpc.insecure_channel(server.address) as channel:
        stub = emotion_pb2_grpc.EmotionServiceStub(channel)
        code, details, _ = call_status(stub, [config(), audio(pcm16(1.5)), audio(pcm16(1.5))])
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "2 s" in details
        code, _, _ = call_status(stub, [config(), audio(b"\0" * 200_000)])
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.RpcError) as err:
            stub.AnalyzeClip(pb.AnalyzeClipRequest(raw=pb.RawAudio(
                format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=8000),
                data=b"\0" * 48_000)), timeout=30)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def open_gauge(handle) -> float:
    return handle.server.metrics.registry.get_sample_value("speechsense_open_streams")


def test_concurrent_stream_limit_and_release_on_cancel(server_factory):
    server = server_factory(max_streams=1)
    release = threading.Event()

    def slow_requests():
        yield config()
        yield audio(pcm16(0.5))
        release.wait(20)

    with grpc.insecure_channel(server.address) as channel:
        stub = emotion_pb2_grpc.EmotionServiceStub(channel)
        first = stub.StreamEmotions(slow_requests())
        deadline = time.monotonic() + 10
        while open_gauge(server) != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        code, details, _ = call_status(stub, [config()])
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "1 concurrent" in details
        first.cancel()
        release.set()
        deadline = time.monotonic() + 10
        while open_gauge(server) != 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert open_gauge(server) == 0
        code, _, got = call_status(stub, [config(), audio(pcm16(3.0))])
        assert code == grpc.StatusCode.OK and got[-1].summary.windows_analyzed == 1


def test_deadline_releases_stream(server_factory):
    server = server_factory()

    def endless():
        yield config()
        for _ in range(200):
            yield audio(pcm16(0.1))
            time.sleep(0.01)

    with grpc.insecure_channel(server.address) as channel:
        stub = emotion_pb2_grpc.EmotionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            list(stub.StreamEmotions(endless(), timeout=0.5))
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    deadline = time.monotonic() + 10
    while open_gauge(server) != 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert open_gauge(server) == 0


def wav_bytes(rate: int, channels: int = 1, seconds: float = 1.0) -> bytes:
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\1\0" * channels * max(1, int(rate * seconds)))
    return out.getvalue()


@pytest.mark.parametrize(("clip", "words"), [
    (wav_bytes(1, seconds=600), "sample rate 1 Hz is outside 8000..48000"),
    (wav_bytes(4000), "sample rate 4000 Hz is outside 8000..48000"),
    (wav_bytes(96000), "sample rate 96000 Hz is outside 8000..48000"),
    (wav_bytes(16000, channels=8), "8 channels"),
])
def test_encoded_clip_has_the_raw_paths_limits_checked_before_decoding(stub, clip, words, monkeypatch):
    from speechsense.server import scoring

    def never(*args):
        raise AssertionError("a refused clip was decoded")

    monkeypatch.setattr(scoring, "decode_bytes", never)  # the header alone must refuse it
    with pytest.raises(grpc.RpcError) as err:
        stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=clip), timeout=30)
    assert err.value.code() == INVALID and words in err.value.details()


def test_encoded_clip_over_the_limit_refused_from_its_header(server_factory, monkeypatch):
    from speechsense.server import scoring

    monkeypatch.setattr(scoring, "decode_bytes", lambda *a: pytest.fail("an over-long clip was decoded"))
    server = server_factory(max_clip_seconds=2.0)
    with grpc.insecure_channel(server.address) as channel, pytest.raises(grpc.RpcError) as err:
        emotion_pb2_grpc.EmotionServiceStub(channel).AnalyzeClip(
            pb.AnalyzeClipRequest(encoded=wav_bytes(8000, seconds=3.0)), timeout=30)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "3.0 s" in err.value.details()


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (48000, 2)])
def test_encoded_clip_at_the_edges_of_the_limits_is_analyzed(stub, rate, channels):
    reply = stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=wav_bytes(rate, channels, seconds=1.5)), timeout=30)
    assert reply.summary.audio_seconds == pytest.approx(1.5, abs=0.01)
