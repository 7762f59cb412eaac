"""One streaming session: capture into a log, stream it, survive UNAVAILABLE by re-sending from the
first window without a result, and present one continuous session to the user."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol

import grpc

from speechsense.audio import PcmFormat
from speechsense.client.audiolog import AudioLog
from speechsense.client.connection import Backoff, Connector, describe_rpc_error
from speechsense.client.options import ClientError, ClientOptions
from speechsense.client.profile import calibration_of, read_profile
from speechsense.client.results import (
    SummaryView,
    UtteranceView,
    WindowView,
    calibration_name,
    summarize,
    summarize_utterances,
)
from speechsense.v1 import emotion_pb2 as pb
from speechsense.windowing import WindowPlan

LAG_REPORT_INTERVAL = 5.0


class Source(Protocol):
    """What the session needs from an audio source."""

    format: PcmFormat
    chunk_frames: int
    live: bool

    def __iter__(self) -> Iterator[bytes]: ...


class Sink(Protocol):
    """Where results and status lines go as they happen."""

    def window(self, result: WindowView) -> None: ...

    def utterance(self, result: UtteranceView) -> None: ...

    def summary(self, summary: SummaryView) -> None: ...

    def status(self, message: str) -> None: ...


def resolve_plan(opts: ClientOptions, info: pb.GetModelInfoResponse) -> WindowPlan:
    """The plan the server will run the session with: unset values from the model, by the one WindowSpec rule."""
    plan = WindowPlan.resolve(opts.window_seconds, opts.hop_seconds, float(info.window_seconds),
                              float(info.default_hop_seconds))
    if plan.window_seconds <= 0:
        raise ClientError("the server reports no window length; pass --window")
    return plan


@dataclass(frozen=True)
class SessionResult:
    """Every window (or, with --utterances, every utterance) of the session once, in order, and the summary."""

    windows: list[WindowView]
    summary: SummaryView
    reconnects: int
    plan: WindowPlan
    utterances: list[UtteranceView] = field(default_factory=list)


class StreamEndedEarly(Exception):
    """The server completed a stream before the client half-closed it (e.g. it is draining)."""


@dataclass
class _Attempt:
    """One StreamEmotions call: where it resumed, whether all audio went out, whether it is over."""

    first: int  # session index of its first result
    origin: int = 0  # session byte position of its first audio byte
    sent_all: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


def _pcm_config(fmt: PcmFormat) -> pb.AudioFormat:
    return pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=fmt.sample_rate,
                          channels=fmt.channels)


def is_transport_failure(err: grpc.RpcError) -> bool:
    """UNAVAILABLE, or a balancer resetting the stream when its replica died (nginx: INTERNAL, RST_STREAM)."""
    code = err.code()
    return code == grpc.StatusCode.UNAVAILABLE or (
        code == grpc.StatusCode.INTERNAL and "RST_STREAM" in (err.details() or ""))


class StreamSession:
    """Streams one source to the server, reconnecting on UNAVAILABLE; run() returns the whole result."""

    def __init__(self, opts: ClientOptions, connector: Connector, source: Source, sink: Sink,
                 stop: threading.Event | None = None, backoff: Backoff | None = None) -> None:
        if source.format.encoding.sample_bytes != 2:
            raise ValueError("the client streams LINEAR16 audio only")
        self.opts, self.connector, self.source, self.sink = opts, connector, source, sink
        self._profile = read_profile(opts.profile) if opts.profile is not None else None
        self._calibration = calibration_of(opts.calibrate, self._profile)
        self.stop = stop if stop is not None else threading.Event()
        self.backoff = backoff or Backoff(opts.backoff_initial, opts.backoff_max, opts.retries)
        self.fmt = source.format
        self.log = AudioLog(self.fmt.frame_bytes)
        self.plan: WindowPlan | None = None
        self.labels: tuple[str, ...] = ()
        self.windows: list[WindowView] = []
        self.utterances: list[UtteranceView] = []
        self._resume_at = 0  # utterance mode: byte position after the last utterance with a result
        self.reconnects = 0
        self._bytes_per_second = self.fmt.sample_rate * self.fmt.frame_bytes
        self._chunk_bytes = source.chunk_frames * self.fmt.frame_bytes
        self._pump_error: BaseException | None = None
        self._call: grpc.Future | None = None
        self._last_lag_report = float("-inf")

    # ---- capture -------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Capture thread: move source chunks into the log until the source ends, stop, or --duration."""
        limit = None
        if self.opts.duration is not None:
            limit = round(self.opts.duration * self.fmt.sample_rate) * self.fmt.frame_bytes
        try:
            for chunk in self.source:
                if limit is not None:
                    chunk = chunk[:max(limit - self.log.end, 0)]
                if chunk:
                    self.log.append(chunk)
                self._check_lag()
                if self.stop.is_set() or (limit is not None and self.log.end >= limit):
                    break
        except BaseException as exc:  # reported by run(); the thread must always close the log
            self._pump_error = exc
        finally:
            self.log.close()

    def _check_lag(self) -> None:
        """Say so when audio piles up waiting for results: the server is slower than real time."""
        plan = self.plan
        if not self.source.live or plan is None or self.opts.utterances:
            return  # in utterance mode silence keeps audio pending by design: no lag to report
        pending = (self.log.end - self.log.start) / self._bytes_per_second
        allowed = plan.window_seconds + plan.hop_seconds + self.opts.lag_warning_seconds
        now = time.monotonic()
        if pending > allowed and now - self._last_lag_report >= LAG_REPORT_INTERVAL:
            self._last_lag_report = now
            self.sink.status(f"server is behind real time: {pending:.1f} s of audio awaiting results "
                             "(kept and sent in order; nothing is dropped)")

    # ---- streaming -----------------------------------------------------------------------------

    def _requests(self, config: pb.StreamConfig, position: int, attempt: _Attempt
                  ) -> Iterable[pb.StreamEmotionsRequest]:
        """One attempt's requests: the config, then the log from `position` until its closed end."""
        yield pb.StreamEmotionsRequest(config=config)
        while not attempt.done.is_set():
            data = self.log.read(position, self._chunk_bytes, timeout=0.1)
            if data is None:
                attempt.sent_all.set()  # before the half-close: the server cannot answer it earlier
                return
            if data:
                position += len(data)
                yield pb.StreamEmotionsRequest(audio=data)

    def _config(self, plan: WindowPlan) -> pb.StreamConfig:
        window = pb.WindowSpec(window_seconds=plan.window_seconds, hop_seconds=plan.hop_seconds)
        config = pb.StreamConfig(format=_pcm_config(self.fmt), window=window, session_tag=self.opts.session_tag,
                                 calibration=self._calibration)
        if self._profile is not None:
            # A session baseline is rebuilt from zero after a reconnect: the server keeps nothing.
            config.profile.CopyFrom(self._profile)
        if self.opts.utterances:
            config.segmentation = pb.SEGMENTATION_UTTERANCES
            config.utterance.CopyFrom(pb.UtteranceSpec(
                min_speech_seconds=self.opts.min_speech_seconds,
                closing_silence_seconds=self.opts.closing_silence_seconds,
                max_utterance_seconds=self.opts.max_utterance_seconds))
        return config

    def _new_attempt(self) -> _Attempt:
        """Resume at the first window without a result, or after the last utterance with one."""
        if self.opts.utterances:
            return _Attempt(len(self.utterances), self._resume_at)
        first = self.windows[-1].index + 1 if self.windows else 0
        return _Attempt(first, first * self._hop_bytes(self.plan))

    def _hop_bytes(self, plan: WindowPlan) -> int:
        return round(plan.hop_seconds * self.fmt.sample_rate) * self.fmt.frame_bytes

    def _attempt(self, stub) -> tuple[int, SummaryView | None]:
        """One StreamEmotions call resuming at the first window without a result; returns (first, summary)."""
        metadata = self.connector.metadata
        if self.plan is None:
            info = stub.GetModelInfo(pb.GetModelInfoRequest(), metadata=metadata,
                                     timeout=self.connector.timeout())
            self.plan = resolve_plan(self.opts, info)
            self.labels = tuple(info.labels)
        attempt = self._new_attempt()
        requests = self._requests(self._config(self.plan), attempt.origin, attempt)
        call = stub.StreamEmotions(requests, metadata=metadata, timeout=self.connector.timeout())
        self._call = call
        summary = None
        try:
            for response in call:
                if response.HasField("window"):
                    self._on_window(response.window, attempt)
                elif response.HasField("utterance"):
                    self._on_utterance(response.utterance, attempt)
                elif response.HasField("summary"):
                    summary = SummaryView.from_proto(response.summary, utterance_mode=self.opts.utterances)
        finally:
            attempt.done.set()
            self._call = None
        if not attempt.sent_all.is_set():
            raise StreamEndedEarly("the server closed the stream before all audio was sent")
        return attempt.first, summary

    def _on_window(self, result: pb.WindowResult, attempt: _Attempt) -> None:
        """Map a result into session time, keep it once, and release the audio no window still needs."""
        plan, first = self.plan, attempt.first
        index = first + int(result.index)
        if self.windows and index <= self.windows[-1].index:
            return  # already have it
        partial = result.end_seconds - result.start_seconds < plan.window_seconds - 1e-3
        if partial and (first > 0 or not attempt.sent_all.is_set()):
            # A short window exists only for a whole session shorter than one window; here it is an
            # artefact of a resumed stream's tail or of a server that ended the stream early.
            return
        view = WindowView.from_proto(result, first, first * plan.hop_seconds)
        self.windows.append(view)
        self.log.trim((index + 1) * self._hop_bytes(plan))
        self.backoff.reset()
        self.sink.window(view)

    def _on_utterance(self, result: pb.UtteranceResult, attempt: _Attempt) -> None:
        """Map an utterance into session time, keep it once, and release the audio up to its end."""
        view = UtteranceView.from_proto(result, attempt.first, attempt.origin / self._bytes_per_second)
        if self.utterances and view.index <= self.utterances[-1].index:
            return
        self.utterances.append(view)
        self._resume_at = max(self._resume_at,
                              round(view.end_seconds * self.fmt.sample_rate) * self.fmt.frame_bytes)
        self.log.trim(self._resume_at)
        self.backoff.reset()
        self.sink.utterance(view)

    def _stream_with_retries(self) -> tuple[int, SummaryView | None]:
        """Attempts until one completes; transport failures are retried with backoff, anything else is fatal."""
        while True:
            stub = self.connector.stub()
            try:
                return self._attempt(stub)
            except (grpc.RpcError, StreamEndedEarly) as exc:
                reason = str(exc) if isinstance(exc, StreamEndedEarly) else describe_rpc_error(exc)
                if isinstance(exc, grpc.RpcError) and not is_transport_failure(exc):
                    raise ClientError(f"server error: {reason}") from None
                never_reached = self.plan is None and "connection refused" in reason.lower()
                delay = self.backoff.next_delay()
                if delay is None:
                    if never_reached:
                        raise ClientError(f"nothing listens at {self.opts.server} (connection refused after "
                                          f"{self.backoff.tries} reconnect attempt(s)); is the server running? "
                                          "--server host:port names another") from None
                    raise ClientError(f"server unavailable after {self.backoff.tries} reconnect "
                                      f"attempt(s): {reason}") from None
                if never_reached:  # the first connection: say plainly what is wrong, once, then keep trying
                    self.sink.status(f"nothing listens at {self.opts.server} yet (connection refused); retrying in "
                                     f"{delay:.1f} s, try {self.backoff.used} of {self.backoff.tries} "
                                     "(--retries 0 gives up at once)")
                else:
                    self.sink.status(f"server unavailable ({reason}); retrying in {delay:.1f} s, audio is kept")
                self.backoff.sleep(delay)
                self.reconnects += 1

    # ---- the whole session ---------------------------------------------------------------------

    def run(self) -> SessionResult:
        """Capture and stream until the source ends or stop is set; print and return the results."""
        pump = threading.Thread(target=self._pump, name="speechsense-capture", daemon=True)
        pump.start()
        try:
            first, server_summary = self._stream_with_retries()
        finally:
            self.stop.set()
            call = self._call
            if call is not None:
                call.cancel()
            self.connector.close()
            pump.join(timeout=2.0)
        if self._pump_error is not None:
            raise ClientError(f"audio capture failed: {self._pump_error}") from self._pump_error
        summary = self._final_summary(first, server_summary)
        self.sink.summary(summary)
        return SessionResult(list(self.windows), summary, self.reconnects, self.plan, list(self.utterances))

    def _final_summary(self, first: int, server_summary: SummaryView | None) -> SummaryView:
        """The server's summary when one stream saw all the audio; else computed over every window."""
        if server_summary is not None and first == 0:
            return replace(server_summary, reconnects=self.reconnects)
        seconds = self.log.end / self._bytes_per_second
        calibration = calibration_name(self._calibration)
        if self.opts.utterances:
            return summarize_utterances(self.utterances, seconds, self.labels, reconnects=self.reconnects,
                                        calibration=calibration)
        return summarize(self.windows, seconds, self.labels, reconnects=self.reconnects, calibration=calibration)
