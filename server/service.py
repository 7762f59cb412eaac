"""The EmotionService implementation; domain errors become gRPC status codes in one place (_abort_on)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import time
from collections.abc import AsyncIterator

import grpc
from google.protobuf.message import DecodeError

from speechsense.audio import AudioError, decode_bytes, encoded_info
from speechsense.server import calibration
from speechsense.server.calibration import CalibrationUnavailable, Calibrator, ProfileError
from speechsense.server.config import ServerOptions
from speechsense.server.engine import Engine, Scored, mean_probabilities
from speechsense.server.metrics import ServerMetrics
from speechsense.server.session import (
    AudioSession,
    LimitExceeded,
    SummaryBuilder,
    WindowPlan,
    pcm_format,
    window_result,
)
from speechsense.server.utterances import Segmenter, Utterance, UtteranceOptions, utterance_result, wants_utterances
from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc as pb_grpc
from speechsense.windowing import Window

log = logging.getLogger("speechsense.server")
MAX_TAG = 128
_END = object()


def _malloc_trim():
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Hand memory freed by finished streams back to the OS, so RSS falls back when load does.

    glibc keeps freed blocks of its per-thread arenas; without this, RSS stays at the high-water
    mark of the busiest moment.
    """
    if _TRIM is not None:
        _TRIM(0)


class RequestError(Exception):
    """A request the server refuses, with the gRPC status it maps to."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse(message_type, data: bytes, what: str):
    """Request bytes to a message. The server deserializes requests itself (add_to_server) so that bytes
    that are not the message, or a string field that is not UTF-8, are the client's error, not a crash."""
    try:
        return message_type.FromString(data)
    except DecodeError as exc:
        reason = str(exc).rpartition(": ")[2].rstrip(".")
        reason = ("a string field such as session_tag is not UTF-8" if "UTF-8" in reason
                  else reason[:1].lower() + reason[1:] or "undecodable bytes")
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"{what} is not a valid {message_type.DESCRIPTOR.full_name} protobuf message: {reason}"
                           ) from None


async def parsed_stream(request_iterator) -> AsyncIterator[pb.StreamEmotionsRequest]:
    """The stream's raw request bytes as messages, numbered from 1 in any error."""
    number = 0
    async for data in request_iterator:
        number += 1
        yield parse(pb.StreamEmotionsRequest, data, f"message {number} of the stream")


def add_to_server(service: EmotionService, server: grpc.aio.Server) -> None:
    """Register the service with raw-bytes requests: each handler parses its own inside _abort_on."""
    handlers = {
        "StreamEmotions": grpc.stream_stream_rpc_method_handler(
            service.StreamEmotions, response_serializer=pb.StreamEmotionsResponse.SerializeToString),
        "AnalyzeClip": grpc.unary_unary_rpc_method_handler(
            service.AnalyzeClip, response_serializer=pb.AnalyzeClipResponse.SerializeToString),
        "GetModelInfo": grpc.unary_unary_rpc_method_handler(
            service.GetModelInfo, response_serializer=pb.GetModelInfoResponse.SerializeToString),
        "CreateSpeakerProfile": grpc.unary_unary_rpc_method_handler(
            service.CreateSpeakerProfile, response_serializer=pb.CreateSpeakerProfileResponse.SerializeToString),
    }
    name = pb.DESCRIPTOR.services_by_name["EmotionService"].full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
    server.add_registered_method_handlers(name, handlers)


class EmotionService(pb_grpc.EmotionServiceServicer):
    def __init__(self, options: ServerOptions, engine: Engine, metrics: ServerMetrics) -> None:
        self.options, self.engine, self.metrics = options, engine, metrics
        self.model = engine.model
        self.draining = False
        self.ready = False  # set once the model and features are warmed up
        self._open = 0
        self._readers: set[asyncio.Task] = set()

    def begin_drain(self) -> None:
        """Shutdown: refuse new calls, and end open streams as if their clients had half-closed."""
        self.draining = True
        for reader in list(self._readers):
            reader.cancel()

    async def GetModelInfo(self, request: bytes, context) -> pb.GetModelInfoResponse:
        async with self._abort_on(context, "model info", "", quiet=True):
            parse(pb.GetModelInfoRequest, request, "the request")
            return self._model_info()

    def _model_info(self) -> pb.GetModelInfoResponse:
        meta = self.model.meta
        m = meta.metrics
        return pb.GetModelInfoResponse(
            labels=list(meta.labels), sample_rate_hz=meta.feature_config.sample_rate,
            window_seconds=meta.feature_config.window_seconds, default_hop_seconds=meta.default_hop_seconds,
            feature_set=meta.feature_config.feature_set, model_name=meta.model_name,
            model_version=meta.model_version,
            metrics=pb.ModelMetrics(
                random_accuracy=m["random"]["accuracy"], random_uar=m["random"]["uar"],
                speaker_uar_mean=m["speaker"]["uar_mean"], speaker_uar_std=m["speaker"]["uar_std"],
                speaker_accuracy_mean=m["speaker"]["accuracy_mean"]),
            feature_config_json=meta.feature_config.to_json(), metrics_json=json.dumps(m, sort_keys=True),
            training_preset=meta.training_preset, training_data=meta.training_data,
            model_family=meta.model_family, encoder_name=meta.encoder_name, encoder_license=meta.encoder_license,
            supports_calibration=bool(self.model.calibration_size), calibration_size=self.model.calibration_size,
            min_profile_speech_seconds=self.options.min_profile_seconds if self.model.calibration_size else 0.0,
        )

    async def CreateSpeakerProfile(self, data: bytes, context) -> pb.CreateSpeakerProfileResponse:
        async with self._abort_on(context, "profile", "") as outcome:
            request = parse(pb.CreateSpeakerProfileRequest, data, "the request")
            self._check_open()
            if not self.model.calibration_size:
                calibration.resolve(pb.CALIBRATION_SESSION, None, self.model)  # raises: no support
            session, items = await self.engine.run_cpu(self._clip_session, request, False)
            scored = await asyncio.gather(*(self.engine.score(w.samples, w.end - w.start) for w in items))
            speech = [(w, s) for w, s in zip(items, scored, strict=True) if s.is_speech]
            outcome["windows"] = len(items)
            seconds = _covered_seconds([w for w, _ in speech], session.model_rate)
            profile = calibration.make_profile([s.head_input for _, s in speech], seconds,
                                               self.options.min_profile_seconds, self.model)
            return pb.CreateSpeakerProfileResponse(profile=profile)

    async def AnalyzeClip(self, data: bytes, context) -> pb.AnalyzeClipResponse:
        request = pb.AnalyzeClipRequest()
        async with self._abort_on(context, "clip", lambda: request.session_tag) as outcome:
            request = parse(pb.AnalyzeClipRequest, data, "the request")
            self._check_open()
            calib = self._calibrator(request.calibration,
                                     request.profile if request.HasField("profile") else None)
            session, items = await self.engine.run_cpu(self._clip_session, request)
            scored = await asyncio.gather(*(self._score(session, item, calib) for item in items))
            summary = SummaryBuilder(self.model.labels, calib.mode)
            reply = pb.AnalyzeClipResponse(session_tag=request.session_tag)
            for item, result in zip(items, scored, strict=True):
                kind, message = await self._result(session, item, result, summary, calib)
                getattr(reply, kind + "s").append(message)
            self._count(summary, session.audio_seconds)
            outcome["windows"] = summary.analyzed
            reply.summary.CopyFrom(summary.summary(session.audio_seconds))
            return reply

    def _clip_session(self, request, analyse: bool = True) -> tuple[AudioSession, list]:
        """Decode and cut a whole clip (runs on the feature pool: decoding is CPU work); an enrolment
        (analyse=False) is cut into the model's own windows."""
        rate = self.model.meta.feature_config.sample_rate
        source = request.WhichOneof("audio_source")
        if source is None:
            raise AudioError("request holds no audio: set raw or encoded")
        if analyse:
            plan, segmenter = self._plan(request.window), self._segmenter(request.segmentation, request.utterance)
        else:
            plan, segmenter = self._plan(pb.WindowSpec()), None
        if source == "raw":
            session = AudioSession(pcm_format(request.raw.format), plan, rate, self.options.max_clip_seconds,
                                   segmenter)
            items = session.push_pcm(request.raw.data)
        else:
            seconds, limit = encoded_info(request.encoded).seconds, self.options.max_clip_seconds
            if seconds > limit:  # refused from the header, before decoding it all
                raise LimitExceeded(f"clip of {seconds:.1f} s exceeds the server's limit of {limit:g} s per call")
            session = AudioSession(None, plan, rate, self.options.max_clip_seconds, segmenter)
            items = session.push_model_rate(decode_bytes(request.encoded, rate))
        return session, items + session.finish()

    def _calibrator(self, mode: int, profile: pb.SpeakerProfile | None) -> Calibrator:
        return calibration.resolve(mode, profile, self.model)

    def _score(self, session: AudioSession, item: Window | Utterance, calib: Calibrator):
        """The scoring coroutine of a window or an utterance (session calibration is applied in order, later)."""
        baseline = None if calib.adapts else calib.baseline()
        if isinstance(item, Utterance):
            return self.engine.score_utterance(item.samples, session.windower.window, session.windower.hop,
                                               baseline)
        return self.engine.score(item.samples, item.end - item.start, baseline=baseline)

    async def _calibrated(self, scored: list[Scored], calib: Calibrator) -> list[Scored]:
        """Session calibration, in stream order: read the item against the speech before it, then learn it."""
        if not calib.adapts:
            return scored
        baseline = calib.baseline()
        if baseline is not None:
            scored = await self.engine.rescore(scored, baseline.values)
        for s in scored:
            if s.is_speech:
                calib.observe(s.head_input)
        return scored

    async def _result(self, session: AudioSession, item: Window | Utterance, scored, summary: SummaryBuilder,
                      calib: Calibrator) -> tuple[str, pb.WindowResult | pb.UtteranceResult]:
        """The API message for a scored item, added to the summary: ("window" | "utterance", message)."""
        labels, rate = self.model.labels, session.model_rate
        if isinstance(item, Utterance):
            windows = await self._calibrated(scored, calib)
            probabilities = mean_probabilities(windows)
            summary.add_utterance(probabilities, len(windows))
            return "utterance", utterance_result(item, probabilities, len(windows), labels, rate)
        (scored,) = await self._calibrated([scored], calib)
        summary.add(scored.probabilities)
        return "window", window_result(item, scored.probabilities, labels, rate)

    async def StreamEmotions(self, request_iterator, context) -> AsyncIterator[pb.StreamEmotionsResponse]:
        tag = ""
        async with self._abort_on(context, "stream", lambda: tag) as outcome:
            self._check_open()
            if self._open >= self.options.max_streams:
                raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                   f"server is at its limit of {self.options.max_streams} concurrent streams")
            self._open += 1
            self.metrics.open_streams.inc()
            try:
                request_iterator = parsed_stream(request_iterator)
                session, tag, calib = await self._open_stream(request_iterator)
                log.info("stream opened tag=%r format=%s window=%.2fs hop=%.2fs segmentation=%s calibration=%s", tag,
                         session.fmt, session.plan.window_seconds, session.plan.hop_seconds,
                         "windows" if session.segmenter is None else "utterances", pb.Calibration.Name(calib.mode))
                async for response in self._run_stream(session, tag, calib, request_iterator, outcome):
                    yield response
            finally:
                self._open -= 1
                self.metrics.open_streams.dec()
                if self._open == 0:
                    release_free_memory()

    async def _open_stream(self, request_iterator) -> tuple[AudioSession, str, Calibrator]:
        """Read and validate the config message that must open every stream."""
        try:
            first = await anext(aiter(request_iterator))
        except StopAsyncIteration:
            raise AudioError("stream closed before its config: the first message must carry a config") from None
        if first.WhichOneof("request") != "config":
            raise AudioError("the first message of a stream must carry a config, not audio")
        cfg = first.config
        if len(cfg.session_tag) > MAX_TAG:
            raise AudioError(f"session_tag is longer than {MAX_TAG} characters")
        session = AudioSession(pcm_format(cfg.format), self._plan(cfg.window),
                               self.model.meta.feature_config.sample_rate, self.options.max_stream_seconds,
                               self._segmenter(cfg.segmentation, cfg.utterance))
        calib = self._calibrator(cfg.calibration, cfg.profile if cfg.HasField("profile") else None)
        return session, cfg.session_tag, calib

    async def _run_stream(self, session: AudioSession, tag: str, calib: Calibrator, request_iterator,
                          outcome: dict) -> AsyncIterator[pb.StreamEmotionsResponse]:
        pending: asyncio.Queue = asyncio.Queue(self.options.pending_windows)
        reader = asyncio.create_task(self._read(session, calib, request_iterator, pending))
        self._readers.add(reader)
        summary = SummaryBuilder(self.model.labels, calib.mode)
        try:
            while (item := await pending.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                cut, task, received_at = item
                kind, message = await self._result(session, cut, await task, summary, calib)
                yield pb.StreamEmotionsResponse(session_tag=tag, **{kind: message})
                self.metrics.window_latency.observe(time.perf_counter() - received_at)
            self._count(summary, session.audio_seconds)
            outcome["windows"] = summary.analyzed
            reason = pb.END_REASON_SERVER_SHUTDOWN if session.cut_short else pb.END_REASON_CLIENT_CLOSED
            yield pb.StreamEmotionsResponse(session_tag=tag, summary=summary.summary(session.audio_seconds, reason))
        finally:
            self._readers.discard(reader)
            reader.cancel()
            while not pending.empty():  # release windows nobody will read
                item = pending.get_nowait()
                if isinstance(item, tuple):
                    item[1].cancel()

    async def _read(self, session: AudioSession, calib: Calibrator, request_iterator,
                    pending: asyncio.Queue) -> None:
        """Read audio messages into windows and queue them in order; errors go through the queue too."""
        push = None  # a chunk being cut on the executor: finish() must wait for it
        try:
            try:
                async for request in request_iterator:
                    kind = request.WhichOneof("request")
                    if kind != "audio":
                        raise AudioError("only the first message of a stream may carry a config" if kind
                                         else "message carries neither config nor audio")
                    # Conversion of one chunk takes microseconds: cheaper inline than an executor hop. The
                    # utterance VAD classifies every 30 ms frame of the chunk: that goes to the executor.
                    if session.segmenter is None:
                        items = session.push_pcm(request.audio)
                    else:
                        push = asyncio.ensure_future(self.engine.run_cpu(session.push_pcm, request.audio))
                        items = await asyncio.shield(push)
                        push = None
                    await self._submit(session, calib, items, pending)
            except asyncio.CancelledError:
                if not self.draining:
                    raise
                session.cut_short = True
                if push is not None:
                    await self._submit(session, calib, await push, pending)
            await self._submit(session, calib, session.finish(), pending)
            await pending.put(_END)
        except Exception as exc:  # any error, ours or not: a reader that dies silently leaves the stream hanging
            await pending.put(exc)

    async def _submit(self, session: AudioSession, calib: Calibrator, items: list, pending: asyncio.Queue) -> None:
        now = time.perf_counter()
        for item in items:
            await pending.put((item, asyncio.ensure_future(self._score(session, item, calib)), now))

    def _plan(self, spec: pb.WindowSpec) -> WindowPlan:
        meta = self.model.meta
        return WindowPlan.resolve(spec, meta.feature_config.window_seconds, meta.default_hop_seconds)

    def _segmenter(self, segmentation: int, spec: pb.UtteranceSpec) -> Segmenter | None:
        """A Segmenter for SEGMENTATION_UTTERANCES, None for fixed windows; AudioError names a bad field."""
        options = UtteranceOptions.resolve(spec)  # range-checked in either mode
        if not wants_utterances(segmentation):
            return None
        cfg = self.model.meta.feature_config
        return Segmenter(options, self.engine.detector, cfg.sample_rate, self.engine.options.utterance_min_dbfs,
                         cfg.trim_top_db)

    def _check_open(self) -> None:
        if not self.ready:
            raise RequestError(grpc.StatusCode.UNAVAILABLE, "server is warming up; retry shortly")
        if self.draining:
            raise RequestError(grpc.StatusCode.UNAVAILABLE, "server is shutting down; retry on another replica")

    def _count(self, summary: SummaryBuilder, audio_seconds: float) -> None:
        self.metrics.audio_seconds.inc(audio_seconds)
        self.metrics.windows.inc(summary.analyzed - summary.skipped)
        self.metrics.skipped.inc(summary.skipped)

    @contextlib.asynccontextmanager
    async def _abort_on(self, context, kind: str, tag, quiet: bool = False):
        """The one boundary where domain errors become gRPC statuses; logs one line per call (quiet: errors
        only)."""
        start, outcome = time.monotonic(), {"windows": 0}
        code, message = grpc.StatusCode.OK, ""
        try:
            yield outcome
        except RequestError as exc:
            code, message = exc.code, str(exc)
        except (AudioError, ProfileError) as exc:
            code, message = grpc.StatusCode.INVALID_ARGUMENT, str(exc)
        except CalibrationUnavailable as exc:
            code, message = grpc.StatusCode.FAILED_PRECONDITION, str(exc)
        except LimitExceeded as exc:
            code, message = grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception:
            code, message = grpc.StatusCode.INTERNAL, "internal error; the server logged the details"
            log.exception("%s failed", kind)
        finally:
            tag_text = tag() if callable(tag) else tag
            if not quiet or code is not grpc.StatusCode.OK:
                log.info("%s closed tag=%r duration=%.2fs windows=%d outcome=%s", kind, tag_text,
                         time.monotonic() - start, outcome["windows"], code.name)
            if code is not grpc.StatusCode.OK:
                self.metrics.errors.labels(code.name).inc()
        if code is not grpc.StatusCode.OK:
            await context.abort(code, message)


def _covered_seconds(windows: list[Window], rate: int) -> float:
    """Seconds of audio inside the union of the windows' spans (overlapping windows count once)."""
    total, reach = 0, 0
    for w in sorted(windows, key=lambda w: w.start):
        start = max(w.start, reach)
        if w.end > start:
            total += w.end - start
        reach = max(reach, w.end)
    return total / rate
