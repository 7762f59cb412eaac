"""One StreamEmotions call inside the analyzer: config first, then audio read and scored concurrently.

A reader task turns audio messages into windows and submits them for scoring as they complete; the
call's generator sends the results in order as they finish. Both sides meet at a bounded queue of
pending windows, so a client that sends faster than the model scores is slowed, not buffered without end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from speechsense.audio import AudioError
from speechsense.server.calibration import Calibrator
from speechsense.server.errors import Code, ServiceError
from speechsense.server.messages import SummaryBuilder
from speechsense.server.metrics import ServerMetrics
from speechsense.server.scoring import Scorer
from speechsense.server.session import AudioSession
from speechsense.v1 import emotion_pb2 as pb

MAX_TAG = 128
_END = object()


class Idle(Exception):
    """The client sent no message within the idle timeout."""


async def idle_limited(requests: AsyncIterator[pb.StreamEmotionsRequest], seconds: float
                       ) -> AsyncIterator[pb.StreamEmotionsRequest]:
    """The requests as they come; Idle when none comes within `seconds` (a quiet client holds no stream forever)."""
    it = aiter(requests)
    while True:
        try:
            async with asyncio.timeout(seconds):
                request = await anext(it)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise Idle(f"no message for {seconds:g} s (the server's --idle-seconds)") from None
        yield request


async def read_config(scorer: Scorer, requests: AsyncIterator[pb.StreamEmotionsRequest]
                      ) -> tuple[AudioSession, str, Calibrator]:
    """Read and validate the config message that must open every stream."""
    try:
        first = await anext(aiter(requests))
    except StopAsyncIteration:
        raise AudioError("stream closed before its config: the first message must carry a config") from None
    except Idle as exc:
        raise ServiceError(Code.DEADLINE_EXCEEDED, f"{exc} before the config") from None
    if first.WhichOneof("request") != "config":
        raise AudioError("the first message of a stream must carry a config, not audio")
    cfg = first.config
    if len(cfg.session_tag) > MAX_TAG:
        raise AudioError(f"session_tag is longer than {MAX_TAG} characters")
    session = scorer.stream_session(cfg)
    calib = scorer.calibrator(cfg.calibration, cfg.profile if cfg.HasField("profile") else None)
    return session, cfg.session_tag, calib


class StreamPump:
    """Runs one configured stream: results() yields every result, then the summary."""

    def __init__(self, scorer: Scorer, metrics: ServerMetrics, pending_windows: int, idle_seconds: float,
                 session: AudioSession, tag: str, calib: Calibrator, draining: Callable[[], bool]) -> None:
        self.scorer, self.metrics, self.session, self.tag, self.calib = scorer, metrics, session, tag, calib
        self._pending: asyncio.Queue = asyncio.Queue(pending_windows)
        self._idle_seconds = idle_seconds
        self._draining = draining  # a cancelled reader means "shutting down", not "client gone", when True
        self._reader: asyncio.Task | None = None
        self._consumer: asyncio.Task | None = None  # the task sending results: cancelled for a slow reader
        self._idle: Idle | None = None
        self._sending_since: float | None = None  # when the result being sent was handed to the transport
        self.slow_reader = False
        self.analyzed = 0

    def stop_reading(self) -> None:
        """Shutdown: read no more audio; the stream ends as if its client had half-closed."""
        if self._reader is not None:
            self._reader.cancel()

    async def results(self, requests: AsyncIterator[pb.StreamEmotionsRequest]
                      ) -> AsyncIterator[pb.StreamEmotionsResponse]:
        session, pending = self.session, self._pending
        self._consumer = asyncio.current_task()
        self._reader = asyncio.create_task(self._read(requests))
        summary = SummaryBuilder(self.scorer.model.labels, self.calib.mode)
        try:
            while (item := await pending.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                cut, task, received_at = item
                kind, message = await self.scorer.result(session, cut, await task, summary, self.calib)
                self._sending_since = time.monotonic()
                yield pb.StreamEmotionsResponse(session_tag=self.tag, **{kind: message})
                self._sending_since = None
                self.metrics.window_latency.observe(time.perf_counter() - received_at)
            self.metrics.count_call(session.audio_seconds, summary.analyzed, summary.skipped)
            self.analyzed = summary.analyzed
            if self._idle is not None:
                self.metrics.refusals.labels("idle").inc()
                if summary.analyzed:
                    yield self._summary(summary, pb.END_REASON_IDLE_TIMEOUT)
                raise ServiceError(Code.DEADLINE_EXCEEDED, str(self._idle))
            yield self._summary(summary, pb.END_REASON_SERVER_SHUTDOWN if session.cut_short
                                else pb.END_REASON_CLIENT_CLOSED)
        finally:
            self._reader.cancel()
            while not pending.empty():  # release windows nobody will read
                item = pending.get_nowait()
                if isinstance(item, tuple):
                    item[1].cancel()

    def _summary(self, summary: SummaryBuilder, reason: int) -> pb.StreamEmotionsResponse:
        return pb.StreamEmotionsResponse(session_tag=self.tag, summary=summary.summary(self.session.audio_seconds,
                                                                                       reason))

    async def _read(self, requests: AsyncIterator[pb.StreamEmotionsRequest]) -> None:
        """Read audio messages into windows and queue them in order; errors go through the queue too."""
        session = self.session
        push = None  # a chunk being cut on the executor: finish() must wait for it
        try:
            try:
                async for request in requests:  # idle_limited: Idle when the client goes quiet
                    kind = request.WhichOneof("request")
                    if kind != "audio":
                        raise AudioError("only the first message of a stream may carry a config" if kind
                                         else "message carries neither config nor audio")
                    # Conversion of one chunk takes microseconds: cheaper inline than an executor hop. The
                    # utterance VAD classifies every 30 ms frame of the chunk: that goes to the executor.
                    if session.segmenter is None:
                        items = session.push_pcm(request.audio)
                    else:
                        push = asyncio.ensure_future(self.scorer.engine.run_cpu(session.push_pcm, request.audio))
                        items = await asyncio.shield(push)
                        push = None
                    await self._submit(items)
            except asyncio.CancelledError:
                if not self._draining():
                    raise
                session.cut_short = True
                if push is not None:
                    await self._submit(await push)
            except Idle as exc:
                self._idle = exc
            await self._submit(session.finish())
            await self._pending.put(_END)
        except Exception as exc:  # any error, ours or not: a reader that dies silently leaves the stream hanging
            await self._pending.put(exc)

    async def _submit(self, items: list) -> None:
        now = time.perf_counter()
        for item in items:
            task = asyncio.ensure_future(self.scorer.score(self.session, item, self.calib))
            try:
                await self._queue((item, task, now))
            except BaseException:
                task.cancel()
                raise

    async def _queue(self, entry: tuple) -> None:
        """Queue a window for sending; a full queue waits for the sender, unless the client stopped reading:
        one result stuck in the transport's write for a whole idle timeout ends the call (cancelling the
        sending task is the one way past a blocked write), so a client that never reads costs bounded memory."""
        while True:
            try:
                async with asyncio.timeout(self._idle_seconds / 4):
                    return await self._pending.put(entry)
            except TimeoutError:
                since = self._sending_since
                if since is not None and time.monotonic() - since >= self._idle_seconds:
                    self.slow_reader = True
                    self.metrics.refusals.labels("slow_reader").inc()
                    self._consumer.cancel()
                    raise asyncio.CancelledError from None
