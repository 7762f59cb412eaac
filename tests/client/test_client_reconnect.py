"""Reconnect: a real server stops mid-stream and a new one starts on the same port."""

from __future__ import annotations

import io
import threading
from concurrent import futures

import grpc
import pytest

from speechsense.client.connection import Connector
from speechsense.client.display import RecordingSink
from speechsense.client.main import run_client
from speechsense.client.session import StreamSession
from speechsense.client.sources import FileSource
from speechsense.v1 import emotion_pb2_grpc


def test_restart_mid_stream_every_window_gets_exactly_one_result(server_factory, restart_in_process, bouncing_sink,
                                                                  clip_file, client_options, speech_clip, clip_windows):
    first = server_factory()
    sink = bouncing_sink(restart_in_process(first), window=1)
    opts = client_options(first.address, file=clip_file)
    result = StreamSession(opts, Connector(opts), FileSource(clip_file, speed=2.0), sink).run()
    assert sink.restarted.is_set(), "the server was never restarted"
    assert result.reconnects >= 1
    assert any("retrying in" in m for m in sink.messages)

    samples, rate = speech_clip
    plan = result.plan
    n = clip_windows(plan)
    assert [w.index for w in result.windows] == list(range(n))
    assert [w.index for w in sink.windows] == list(range(n))  # shown once each, in order
    for w in result.windows:  # offsets mapped back into one continuous session
        assert w.start_seconds == pytest.approx(w.index * plan.hop_seconds)
        assert w.end_seconds == pytest.approx(w.start_seconds + plan.window_seconds)

    # The session counts as one: the client's summary covers every window of every attempt.
    summary = result.summary
    assert summary.source == "client" and summary.windows_analyzed == n
    assert summary.audio_seconds == pytest.approx(len(samples) / rate, abs=0.01)
    assert summary.reconnects == result.reconnects

    # Re-sent audio was aligned: each window scores as in an uninterrupted run.
    clean = run_client(client_options(first.address, file=clip_file, fast=True), io.StringIO(), io.StringIO())
    for got, want in zip(result.windows, clean.windows, strict=True):
        assert got.is_speech == want.is_speech
        for label, score in want.scores.items():
            assert got.scores[label] == pytest.approx(score, rel=1e-3, abs=1e-6)


def test_server_down_at_start_then_up(server_factory, clip_file, client_options):
    handle = server_factory()
    port = handle.port
    handle.stop()
    timer = threading.Timer(0.6, lambda: server_factory(port=port))
    timer.start()
    try:
        opts = client_options(f"127.0.0.1:{port}", file=clip_file, fast=True)
        result = run_client(opts, io.StringIO(), io.StringIO())
    finally:
        timer.join()
    assert result.reconnects >= 1
    assert result.summary.source == "server"  # the one stream that worked saw all the audio
    assert [w.index for w in result.windows] == list(range(len(result.windows)))


class FlakyProxy(emotion_pb2_grpc.EmotionServiceServicer):
    """Forwards to a real server, but fails its first stream with UNAVAILABLE after `fail_after` windows."""

    def __init__(self, upstream: str, fail_after: int) -> None:
        self.channel = grpc.insecure_channel(upstream)
        self.stub = emotion_pb2_grpc.EmotionServiceStub(self.channel)
        self.fail_after, self.streams, self.first_offsets = fail_after, 0, []

    def GetModelInfo(self, request, context):  # noqa: N802 - gRPC method name
        return self.stub.GetModelInfo(request)

    def StreamEmotions(self, request_iterator, context):  # noqa: N802 - gRPC method name
        self.streams += 1
        windows = 0
        for response in self.stub.StreamEmotions(request_iterator):
            if response.HasField("window"):
                self.first_offsets.append((self.streams, response.window.index, response.window.start_seconds))
                windows += 1
            yield response
            if self.streams == 1 and windows == self.fail_after:
                context.abort(grpc.StatusCode.UNAVAILABLE, "proxy lost its backend")


def test_unavailable_error_mid_stream_resends_from_first_missing_window(server_address, clip_file,
                                                                       client_options, clip_windows):
    proxy = FlakyProxy(server_address, fail_after=2)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    emotion_pb2_grpc.add_EmotionServiceServicer_to_server(proxy, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        sink = RecordingSink()
        opts = client_options(f"127.0.0.1:{port}", file=clip_file)
        result = StreamSession(opts, Connector(opts), FileSource(clip_file, speed=4.0), sink).run()
    finally:
        server.stop(0)
        proxy.channel.close()
    assert proxy.streams == 2 and result.reconnects == 1
    assert any("proxy lost its backend" in m for m in sink.messages)
    # The second stream started at window 2: its own index 0 and offset 0 s are session window 2 at 2 s.
    assert (2, 0, 0.0) in proxy.first_offsets
    plan = result.plan
    n = clip_windows(plan)
    assert [w.index for w in result.windows] == list(range(n))
    assert [w.start_seconds for w in result.windows] == pytest.approx([i * plan.hop_seconds for i in range(n)])
    assert result.summary.source == "client" and result.summary.windows_analyzed == n
