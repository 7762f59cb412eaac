"""The Analyzer in-process, with no sockets: typed messages in and out, ServiceError with the right code."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import types

import numpy as np
import pytest

from speechsense.labels import LABELS
from speechsense.server.analyzer import Analyzer
from speechsense.server.errors import Code, ServiceError
from speechsense.synthetic import RATE, speech_like
from speechsense.v1 import emotion_pb2 as pb

FORMAT = pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=RATE, channels=1)


def pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


async def requests_of(data: bytes, chunk: int = 3200, tag: str = "t", first=None):
    yield first or pb.StreamEmotionsRequest(config=pb.StreamConfig(format=FORMAT, session_tag=tag))
    for i in range(0, len(data), chunk):
        yield pb.StreamEmotionsRequest(audio=data[i:i + chunk])


def refusals(analyzer: Analyzer, reason: str) -> float:
    return analyzer.metrics.registry.get_sample_value("speechsense_refusals_total", {"reason": reason}) or 0.0


async def collect(stream) -> list[pb.StreamEmotionsResponse]:
    return [response async for response in stream]


def run_with(make, body, warm: bool = True, **overrides):
    """Run body(analyzer) in a fresh event loop with a started (and, by default, warmed) Analyzer."""

    async def main():
        analyzer = make(**overrides)
        analyzer.start()
        try:
            if warm:
                await analyzer.warm_up()
            return await body(analyzer)
        finally:
            await analyzer.close()

    return asyncio.run(main())


@pytest.fixture
def make_analyzer(base_options, engine_factory):
    def make(**overrides) -> Analyzer:
        options = dataclasses.replace(base_options, **overrides)
        engine = engine_factory()
        return Analyzer(options, engine, engine.metrics)

    return make


def test_a_clip_and_a_stream_of_the_same_audio_read_the_same(make_analyzer):
    data = pcm(speech_like(5.0))

    async def body(analyzer):
        clip = await analyzer.analyze_clip(pb.AnalyzeClipRequest(raw=pb.RawAudio(format=FORMAT, data=data)))
        responses = await collect(analyzer.stream(requests_of(data, tag="abc")))
        return clip, responses

    clip, responses = run_with(make_analyzer, body)
    windows = [r.window for r in responses[:-1]]
    assert [r.WhichOneof("result") for r in responses] == ["window"] * 3 + ["summary"]
    assert all(r.session_tag == "abc" for r in responses)
    assert len(clip.windows) == 3 and [w.index for w in windows] == [0, 1, 2]
    for a, b in zip(clip.windows, windows, strict=True):
        assert [s.label for s in a.scores] == list(LABELS)
        assert [s.score for s in a.scores] == pytest.approx([s.score for s in b.scores], abs=1e-5)
    assert responses[-1].summary.windows_analyzed == clip.summary.windows_analyzed == 3
    assert responses[-1].summary.end_reason == pb.END_REASON_CLIENT_CLOSED


@pytest.mark.parametrize(("first", "words"), [
    (pb.StreamEmotionsRequest(audio=b"\0\0"), "must carry a config"),
    (pb.StreamEmotionsRequest(config=pb.StreamConfig(format=pb.AudioFormat(sample_rate_hz=RATE))),
     "unsupported audio encoding"),
    (pb.StreamEmotionsRequest(config=pb.StreamConfig(format=FORMAT, window=pb.WindowSpec(window_seconds=9))),
     "window_seconds 9"),
])
def test_a_bad_stream_config_is_invalid_argument(make_analyzer, first, words):
    async def body(analyzer):
        with pytest.raises(ServiceError) as err:
            await collect(analyzer.stream(requests_of(b"", first=first)))
        return err.value, analyzer.open_streams

    error, still_open = run_with(make_analyzer, body)
    assert error.code is Code.INVALID_ARGUMENT and words in error.message
    assert still_open == 0


def test_an_error_raised_by_the_transports_requests_keeps_its_code(make_analyzer):
    async def requests():
        yield pb.StreamEmotionsRequest(config=pb.StreamConfig(format=FORMAT))
        raise ServiceError(Code.RESOURCE_EXHAUSTED, "frame too big")

    async def body(analyzer):
        with pytest.raises(ServiceError) as err:
            await collect(analyzer.stream(requests()))
        return err.value

    error = run_with(make_analyzer, body)
    assert (error.code, error.message) == (Code.RESOURCE_EXHAUSTED, "frame too big")


def test_calls_before_warm_up_and_while_draining_are_unavailable(make_analyzer):
    clip = pb.AnalyzeClipRequest(raw=pb.RawAudio(format=FORMAT, data=pcm(speech_like(1.0))))

    async def body(analyzer):
        codes = []
        for step in ("cold", "draining"):
            if step == "draining":
                await analyzer.warm_up()
                analyzer.begin_drain()
            with pytest.raises(ServiceError) as err:
                await analyzer.analyze_clip(clip)
            codes.append((err.value.code, err.value.message.split(";")[0]))
        return codes

    assert run_with(make_analyzer, body, warm=False) == [
        (Code.UNAVAILABLE, "server is warming up"), (Code.UNAVAILABLE, "server is shutting down")]


def test_streams_over_the_limit_are_resource_exhausted(make_analyzer):
    async def hold(started: asyncio.Event, release: asyncio.Event):
        yield pb.StreamEmotionsRequest(config=pb.StreamConfig(format=FORMAT))
        started.set()
        await release.wait()

    async def body(analyzer):
        started, release = asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(collect(analyzer.stream(hold(started, release))))
        await started.wait()
        with pytest.raises(ServiceError) as err:
            await collect(analyzer.stream(requests_of(b"")))
        release.set()
        return err.value, (await first)[-1].summary, analyzer.open_streams

    error, summary, still_open = run_with(make_analyzer, body, max_streams=1)
    assert error.code is Code.RESOURCE_EXHAUSTED and "limit of 1 concurrent streams" in error.message
    assert summary.end_reason == pb.END_REASON_CLIENT_CLOSED and still_open == 0


def test_drain_ends_an_open_stream_with_the_windows_it_received(make_analyzer):
    data = pcm(speech_like(4.0))

    async def endless(sent: asyncio.Event):
        async for request in requests_of(data):
            yield request
        sent.set()
        await asyncio.Event().wait()  # a client that never half-closes

    async def body(analyzer):
        sent = asyncio.Event()
        task = asyncio.create_task(collect(analyzer.stream(endless(sent))))
        await sent.wait()
        analyzer.begin_drain()
        return await asyncio.wait_for(task, 30)

    responses = run_with(make_analyzer, body)
    assert [r.WhichOneof("result") for r in responses] == ["window", "window", "summary"]
    assert responses[-1].summary.end_reason == pb.END_REASON_SERVER_SHUTDOWN


def test_model_info_and_profile_refusal_on_a_model_without_calibration(make_analyzer):
    request = pb.CreateSpeakerProfileRequest(raw=pb.RawAudio(format=FORMAT, data=pcm(speech_like(3.0))))

    async def body(analyzer):
        with pytest.raises(ServiceError) as err:
            await analyzer.create_profile(request)
        return analyzer.model_info(), err.value

    info, error = run_with(make_analyzer, body)
    assert list(info.labels) == list(LABELS) and info.sample_rate_hz == RATE and not info.supports_calibration
    assert error.code is Code.FAILED_PRECONDITION


async def quiet_after(data: bytes, forever: asyncio.Event | None = None):
    """A config, the audio, then nothing: a client that holds its stream open without sending."""
    async for request in requests_of(data):
        yield request
    await (forever or asyncio.Event()).wait()


def test_a_quiet_stream_gets_its_summary_then_deadline_exceeded(make_analyzer):
    async def body(analyzer):
        got = []
        with pytest.raises(ServiceError) as err:
            async for response in analyzer.stream(quiet_after(pcm(speech_like(3.5)))):
                got.append(response)
        return got, err.value, refusals(analyzer, "idle")

    responses, error, idle = run_with(make_analyzer, body, idle_seconds=0.5)
    assert [r.WhichOneof("result") for r in responses] == ["window", "summary"]
    assert responses[-1].summary.end_reason == pb.END_REASON_IDLE_TIMEOUT
    assert error.code is Code.DEADLINE_EXCEEDED and "no message for 0.5 s" in error.message and idle == 1


def test_a_stream_quiet_before_its_config_ends_without_a_summary(make_analyzer):
    async def silent():
        await asyncio.Event().wait()
        yield pb.StreamEmotionsRequest()

    async def body(analyzer):
        with pytest.raises(ServiceError) as err:
            await collect(analyzer.stream(silent()))
        return err.value, analyzer.open_streams

    error, still_open = run_with(make_analyzer, body, idle_seconds=0.3)
    assert error.code is Code.DEADLINE_EXCEEDED and "before the config" in error.message and still_open == 0


def test_one_peer_is_held_to_its_share_and_others_are_served(make_analyzer):
    async def body(analyzer):
        release = asyncio.Event()
        held = [asyncio.create_task(collect(analyzer.stream(quiet_after(b"", release), peer="10.0.0.1")))
                for _ in range(2)]
        while analyzer.open_streams < 2:
            await asyncio.sleep(0.01)
        with pytest.raises(ServiceError) as err:
            await collect(analyzer.stream(requests_of(b""), peer="10.0.0.1"))
        other = await collect(analyzer.stream(requests_of(pcm(speech_like(3.0))), peer="10.0.0.2"))
        release.set()
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        return err.value, other, analyzer.open_streams

    error, other, still_open = run_with(make_analyzer, body, max_streams_per_peer=2)
    assert error.code is Code.RESOURCE_EXHAUSTED and "10.0.0.1 holds 2 streams" in error.message
    assert [r.WhichOneof("result") for r in other] == ["window", "summary"] and still_open == 0


def test_a_client_that_reads_no_results_is_ended_and_its_stream_released(make_analyzer):
    data = pcm(speech_like(12.0))

    async def reads_one(analyzer):
        async with contextlib.aclosing(analyzer.stream(quiet_after(data))) as stream:
            await anext(stream)
            await asyncio.Event().wait()  # never reads again

    async def body(analyzer):
        task = asyncio.create_task(reads_one(analyzer))
        done, _ = await asyncio.wait([task], timeout=10)
        return done, task.cancelled(), analyzer.open_streams, refusals(analyzer, "slow_reader")

    done, cancelled, still_open, slow = run_with(make_analyzer, body, idle_seconds=0.5, pending_windows=1)
    assert done and cancelled and still_open == 0 and slow == 1


class StuckSocket:
    """A WebSocket whose client sends a config and audio, then reads nothing: every send blocks, as on a full buffer."""

    def __init__(self, messages: list) -> None:
        self._incoming: asyncio.Queue = asyncio.Queue()
        for kind, data in messages:
            self._incoming.put_nowait(types.SimpleNamespace(type=kind, data=data))
        self.closed = False
        self.aborted = asyncio.Event()

    async def receive(self, timeout: float | None = None):
        return await self._incoming.get()  # after the audio: quiet but connected

    async def send_str(self, data: str) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int = 1000, message: bytes = b"") -> bool:
        self.closed = True
        await asyncio.Event().wait()


def test_a_web_client_that_reads_nothing_is_dropped_and_its_stream_released(make_analyzer):
    from aiohttp import WSMsgType

    from speechsense.server.web_stream import StreamSocket

    config = json.dumps({"format": {"encoding": "AUDIO_ENCODING_LINEAR16", "sampleRateHz": RATE}})
    audio = pcm(speech_like(12.0))

    async def body(analyzer):
        ws = StuckSocket([(WSMsgType.TEXT, config), *((WSMsgType.BINARY, audio[i:i + 32000])
                                                       for i in range(0, len(audio), 32000))])
        socket = StreamSocket(ws, analyzer, analyzer.options, True, "10.0.0.9", lambda: None, ws.aborted.set)
        await asyncio.wait_for(socket.run(), 15)
        return ws.aborted.is_set(), analyzer.open_streams

    aborted, still_open = run_with(make_analyzer, body, idle_seconds=0.5, pending_windows=1)
    assert aborted and still_open == 0
