"""SpeechSense from Python: `from speechsense import Client`, the same client the CLI runs on.

    with Client("localhost:50051") as client:
        clip = client.analyze_file("talk.flac")       # ClipResult: every window, then the summary
        for result in client.stream(chunks, rate=16000):  # WindowView / UtteranceView as they come, SummaryView last
            print(result)
A stream reconnects and re-sends from its first window without a result, as the CLI does; `async for` works too.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import numpy as np

from speechsense.audio import Encoding, PcmFormat
from speechsense.client.connection import Backoff, Connector, describe_rpc_error
from speechsense.client.options import DEFAULT_SERVER, ClientError, ClientOptions
from speechsense.client.profile import calibration_of, enrol, read_profile
from speechsense.client.results import SummaryView, UtteranceView, WindowView
from speechsense.client.session import SessionResult, StreamSession
from speechsense.client.sources import to_linear16
from speechsense.v1 import emotion_pb2 as pb

log = logging.getLogger("speechsense.client")
_DONE = object()


@dataclass(frozen=True)
class ClipResult:
    """AnalyzeClip's answer: every window (or utterance, in utterance mode) and the summary."""

    windows: list[WindowView]
    utterances: list[UtteranceView]
    summary: SummaryView


class ChunkSource:
    """A stream's audio from the caller: float arrays in [-1, 1] or LINEAR16 bytes, mono, at `rate`."""

    live = False  # no capture clock: the caller paces it

    def __init__(self, chunks: Iterable[np.ndarray | bytes], rate: int) -> None:
        self.format = PcmFormat(Encoding.LINEAR16, rate, 1)
        self.chunk_frames = max(rate // 10, 1)
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            yield chunk if isinstance(chunk, bytes | bytearray) else to_linear16(np.asarray(chunk))


class _QueueSink:
    """Hands a session's results to the thread iterating its Stream; status lines go to the log."""

    def __init__(self) -> None:
        self.queue: queue.Queue = queue.Queue()

    def window(self, result: WindowView) -> None:
        self.queue.put(result)

    def utterance(self, result: UtteranceView) -> None:
        self.queue.put(result)

    def summary(self, summary: SummaryView) -> None:
        self.queue.put(summary)

    def status(self, message: str) -> None:
        log.info("%s", message)


class Stream:
    """One streamed session's results as they come (for or async for); `result` holds the whole session after."""

    def __init__(self, session: StreamSession, sink: _QueueSink) -> None:
        self._session, self._queue = session, sink.queue
        self._thread: threading.Thread | None = None
        self.result: SessionResult | None = None

    def _start(self) -> None:
        if self._thread is not None:
            raise ClientError("a Stream can be iterated once")
        self._thread = threading.Thread(target=self._run, name="speechsense-stream", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._session.run()
        except BaseException as exc:  # handed to the iterating thread
            self._queue.put(exc)
        finally:
            self._queue.put(_DONE)

    def _next(self, item):
        if isinstance(item, BaseException):
            raise item
        return item

    def __iter__(self) -> Iterator[WindowView | UtteranceView | SummaryView]:
        self._start()
        while (item := self._queue.get()) is not _DONE:
            yield self._next(item)

    async def __aiter__(self) -> AsyncIterator[WindowView | UtteranceView | SummaryView]:
        self._start()
        loop = asyncio.get_running_loop()
        while (item := await loop.run_in_executor(None, self._queue.get)) is not _DONE:
            yield self._next(item)

    def stop(self) -> None:
        """End the session early: what was sent is still answered, then the summary."""
        self._session.stop.set()


class Client:
    """SpeechSense over gRPC: clips, streams, speaker profiles and model info, with retries, TLS and tokens."""

    def __init__(self, server: str = DEFAULT_SERVER, *, tls: bool = False, ca_cert: str | Path | None = None,
                 token: str | None = None, retries: int = 5, deadline: float | None = None,
                 options: ClientOptions | None = None) -> None:
        self.options = options or ClientOptions(server=server, tls=tls, ca_cert=Path(ca_cert) if ca_cert else None,
                                                token=token, retries=retries, deadline=deadline)
        self._connector = Connector(self.options)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._connector.close()

    def model_info(self) -> pb.GetModelInfoResponse:
        return self._unary(lambda stub, **call: stub.GetModelInfo(pb.GetModelInfoRequest(), **call))

    def analyze_file(self, path: str | Path, *, profile: str | Path | None = None,
                     utterances: bool = False) -> ClipResult:
        """A whole file (WAV, FLAC, OGG, MP3; any rate), decoded by the server."""
        return self._analyze(pb.AnalyzeClipRequest(encoded=Path(path).read_bytes()), profile, utterances)

    def analyze(self, samples: np.ndarray, rate: int, *, profile: str | Path | None = None,
                utterances: bool = False) -> ClipResult:
        """Mono float samples in [-1, 1] at `rate`."""
        raw = pb.RawAudio(format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=rate, channels=1),
                          data=to_linear16(samples))
        return self._analyze(pb.AnalyzeClipRequest(raw=raw), profile, utterances)

    def stream(self, chunks: Iterable[np.ndarray | bytes], rate: int = 16_000, **options) -> Stream:
        """Stream the chunks as they come; options are ClientOptions fields (utterances, hop_seconds, profile...)."""
        opts = replace(self.options, file=None, **options)
        sink = _QueueSink()
        return Stream(StreamSession(opts, self._connector, ChunkSource(chunks, rate), sink), sink)

    def session(self, source, sink, stop: threading.Event | None = None) -> StreamSession:
        """A session over any Source and Sink (the CLI's microphone and display)."""
        return StreamSession(self.options, self._connector, source, sink, stop)

    def enrol(self, samples: np.ndarray, rate: int) -> pb.SpeakerProfile:
        """A speaker profile from their ordinary speech (CreateSpeakerProfile); pass it later as a file."""
        return self._unary(lambda stub, **call: enrol(stub, samples, rate, call["metadata"], call["timeout"]))

    def _analyze(self, request: pb.AnalyzeClipRequest, profile: str | Path | None, utterances: bool) -> ClipResult:
        if profile is not None:
            request.profile.CopyFrom(read_profile(Path(profile)))
        request.calibration = calibration_of(self.options.calibrate, request.profile if profile else None)
        if utterances:
            request.segmentation = pb.SEGMENTATION_UTTERANCES
        reply = self._unary(lambda stub, **call: stub.AnalyzeClip(request, **call))
        return ClipResult([WindowView.from_proto(w) for w in reply.windows],
                          [UtteranceView.from_proto(u) for u in reply.utterances],
                          SummaryView.from_proto(reply.summary, utterance_mode=utterances))

    def _unary(self, call: Callable):
        """One call, retried with backoff while the server is UNAVAILABLE; other errors are ClientError."""
        backoff = Backoff(self.options.backoff_initial, self.options.backoff_max, self.options.retries)
        while True:
            try:
                return call(self._connector.stub(), metadata=self._connector.metadata,
                            timeout=self._connector.timeout())
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or not backoff.wait():
                    raise ClientError(f"server error: {describe_rpc_error(exc)}") from None
