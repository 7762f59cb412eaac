"""The service itself, in-process: typed v1 messages in and out, ServiceError for every refusal.

Transports (server/grpc_service.py, server/web.py) are thin adapters over one Analyzer: they turn
bytes or JSON into messages and a ServiceError into their own status. Admission, limits, decoding,
scoring order, calibration, metrics and the per-call log line live here, once. Lifecycle too: start()
in the server's event loop, warm_up() before ready, begin_drain() at shutdown, close() last.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import time
from collections.abc import AsyncIterator

from speechsense.server import calibration
from speechsense.server.config import ServerOptions
from speechsense.server.engine import Engine
from speechsense.server.errors import Code, ServiceError, as_service_error
from speechsense.server.messages import SummaryBuilder, model_info
from speechsense.server.metrics import ServerMetrics
from speechsense.server.scoring import Scorer
from speechsense.server.streams import StreamPump, idle_limited, read_config
from speechsense.v1 import emotion_pb2 as pb
from speechsense.windowing import Window

log = logging.getLogger("speechsense.server")


class Analyzer:
    """Streams, clips, profiles and model info over one Engine; every method raises only ServiceError."""

    def __init__(self, options: ServerOptions, engine: Engine, metrics: ServerMetrics) -> None:
        self.options, self.engine, self.metrics = options, engine, metrics
        self.model = engine.model
        self.scorer = Scorer(options, engine)
        self._ready = False
        self._draining = False
        self._pumps: set[StreamPump] = set()
        self._open = 0
        self._per_peer: dict[str, int] = {}  # open streams by client address

    # ---- lifecycle -------------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Warmed up: calls are accepted unless draining."""
        return self._ready

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def open_streams(self) -> int:
        return self._open

    def start(self) -> None:
        """Start the engine's batchers; must run inside the event loop that serves the calls."""
        self.engine.start()

    async def warm_up(self) -> None:
        """Compile and size the model's first calls, then accept calls."""
        await self.engine.run_cpu(self.engine.warm_up)
        self._ready = True

    def begin_drain(self) -> None:
        """Shutdown: refuse new calls, and end open streams as if their clients had half-closed."""
        self._draining = True
        for pump in list(self._pumps):
            pump.stop_reading()

    async def close(self) -> None:
        await self.engine.close()

    # ---- calls -----------------------------------------------------------------------------------------------
    def model_info(self) -> pb.GetModelInfoResponse:
        return model_info(self.model, self.options.min_profile_seconds)

    async def analyze_clip(self, request: pb.AnalyzeClipRequest) -> pb.AnalyzeClipResponse:
        async with self._call("clip", request.session_tag) as outcome:
            self._check_open()
            scorer = self.scorer
            calib = scorer.calibrator(request.calibration, request.profile if request.HasField("profile") else None)
            session, items = await self.engine.run_cpu(scorer.clip_session, request)
            scored = await asyncio.gather(*(scorer.score(session, item, calib) for item in items))
            summary = SummaryBuilder(self.model.labels, calib.mode)
            reply = pb.AnalyzeClipResponse(session_tag=request.session_tag)
            for item, result in zip(items, scored, strict=True):
                kind, message = await scorer.result(session, item, result, summary, calib)
                getattr(reply, kind + "s").append(message)
            self.metrics.count_call(session.audio_seconds, summary.analyzed, summary.skipped)
            outcome["windows"] = summary.analyzed
            reply.summary.CopyFrom(summary.summary(session.audio_seconds))
            return reply

    async def create_profile(self, request: pb.CreateSpeakerProfileRequest) -> pb.CreateSpeakerProfileResponse:
        async with self._call("profile", "") as outcome:
            self._check_open()
            if not self.model.calibration_size:
                calibration.resolve(pb.CALIBRATION_SESSION, None, self.model)  # raises: no support
            session, items = await self.engine.run_cpu(self.scorer.clip_session, request, False)
            scored = await asyncio.gather(*(self.engine.score(w.samples, w.end - w.start) for w in items))
            speech = [(w, s) for w, s in zip(items, scored, strict=True) if s.is_speech]
            outcome["windows"] = len(items)
            seconds = covered_seconds([w for w, _ in speech], session.model_rate)
            profile = calibration.make_profile([s.head_input for _, s in speech], seconds,
                                               self.options.min_profile_seconds, self.model)
            return pb.CreateSpeakerProfileResponse(profile=profile)

    async def stream(self, requests: AsyncIterator[pb.StreamEmotionsRequest], peer: str = ""
                     ) -> AsyncIterator[pb.StreamEmotionsResponse]:
        """StreamEmotions: a config, then audio; results as they are scored, then the summary.

        Errors raised by `requests` itself end the call too: a ServiceError keeps its code. peer: the client's
        address (no port), for --max-streams-per-peer.
        """
        tag = ""
        async with self._call("stream", lambda: tag) as outcome:
            self._check_open()
            self._admit(peer)
            try:
                requests = idle_limited(requests, self.options.idle_seconds)
                session, tag, calib = await read_config(self.scorer, requests)
                log.info("stream opened tag=%r format=%s window=%.2fs hop=%.2fs segmentation=%s calibration=%s", tag,
                         session.fmt, session.plan.window_seconds, session.plan.hop_seconds,
                         "windows" if session.segmenter is None else "utterances", pb.Calibration.Name(calib.mode))
                pump = StreamPump(self.scorer, self.metrics, self.options.pending_windows, self.options.idle_seconds,
                                  session, tag, calib, lambda: self._draining)
                self._pumps.add(pump)
                try:
                    async with contextlib.aclosing(pump.results(requests)) as results:
                        async for response in results:
                            yield response
                    outcome["windows"] = pump.analyzed
                finally:
                    self._pumps.discard(pump)
                    if pump.slow_reader:
                        log.info("stream tag=%r from %s ended: it read no result for %g s", tag, peer or "-",
                                 self.options.idle_seconds)
            finally:
                self._release(peer)

    def _admit(self, peer: str) -> None:
        """Count a new stream in, or refuse it over --max-streams or --max-streams-per-peer (RESOURCE_EXHAUSTED)."""
        if self._open >= self.options.max_streams:
            self.metrics.refusals.labels("stream_limit").inc()
            raise ServiceError(Code.RESOURCE_EXHAUSTED,
                               f"server is at its limit of {self.options.max_streams} concurrent streams")
        self.check_peer(peer)
        self._open += 1
        self._per_peer[peer] = self._per_peer.get(peer, 0) + 1
        self.metrics.open_streams.inc()

    def _release(self, peer: str) -> None:
        """Count a stream out (whatever ended it); memory goes back to the OS when the last one ends."""
        self._open -= 1
        self._per_peer[peer] -= 1
        if not self._per_peer[peer]:
            del self._per_peer[peer]
        self.metrics.open_streams.dec()
        if self._open == 0:
            release_free_memory()

    def check_peer(self, peer: str, held: int = 0) -> None:
        """ServiceError(RESOURCE_EXHAUSTED) when this client address holds its --max-streams-per-peer.

        held: calls of this peer a transport holds that are not streams here yet (sockets before their config).
        """
        limit = self.options.max_streams_per_peer
        if limit and peer and self._per_peer.get(peer, 0) + held >= limit:
            self.metrics.refusals.labels("peer_limit").inc()
            raise ServiceError(Code.RESOURCE_EXHAUSTED, f"{peer} holds {limit} streams, the server's limit per "
                               "client address (--max-streams-per-peer)")

    def refuse(self, kind: str, error: ServiceError) -> None:
        """Log and count a call a transport refused before it reached the analyzer (say, undecodable bytes)."""
        log.info("%s closed tag='' duration=0.00s windows=0 outcome=%s", kind, error.code.name)
        self.metrics.errors.labels(error.code.name).inc()

    # ---- the one boundary --------------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if not self._ready:
            raise ServiceError(Code.UNAVAILABLE, "server is warming up; retry shortly")
        if self._draining:
            raise ServiceError(Code.UNAVAILABLE, "server is shutting down; retry on another replica")

    @contextlib.asynccontextmanager
    async def _call(self, kind: str, tag):
        """Domain errors become ServiceError here, and only here; one log line and metrics per call."""
        start, outcome = time.monotonic(), {"windows": 0}
        code, error = Code.OK, None
        try:
            yield outcome
        except asyncio.CancelledError:
            code = Code.CANCELLED
            raise
        except Exception as exc:
            error = as_service_error(exc)
            if error is None:
                log.exception("%s failed", kind)
                error = ServiceError(Code.INTERNAL, "internal error; the server logged the details")
            code = error.code
        finally:
            log.info("%s closed tag=%r duration=%.2fs windows=%d outcome=%s", kind, tag() if callable(tag) else tag,
                     time.monotonic() - start, outcome["windows"], code.name)
            if code is not Code.OK:
                self.metrics.errors.labels(code.name).inc()
        if error is not None:
            try:
                raise error
            finally:
                error = None  # the traceback references this frame: no cycle through the local


def covered_seconds(windows: list[Window], rate: int) -> float:
    """Seconds of audio inside the union of the windows' spans (overlapping windows count once)."""
    total, reach = 0, 0
    for w in sorted(windows, key=lambda w: w.start):
        start = max(w.start, reach)
        if w.end > start:
            total += w.end - start
        reach = max(reach, w.end)
    return total / rate


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Hand memory freed by finished streams back to the OS, so RSS falls back when load does.

    glibc keeps freed blocks of its per-thread arenas; without this, RSS stays at the high-water
    mark of the busiest moment.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
