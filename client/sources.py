"""Audio sources: iterators of LINEAR16 mono PCM chunks from a file or a microphone."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from speechsense.audio import Encoding, PcmFormat, load_file

FILE_RATE = 16_000
Reporter = Callable[[str], None]


def to_linear16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] to signed 16-bit little-endian bytes (clipped)."""
    scaled = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767.0
    return np.round(scaled).astype("<i2").tobytes()


def _ignore(message: str) -> None:
    """Default reporter: say nothing."""


class FileSource:
    """An audio file decoded to 16 kHz LINEAR16 mono chunks, paced in real time unless `speed` is None."""

    def __init__(
        self,
        path: str | Path,
        chunk_seconds: float = 0.1,
        speed: float | None = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive or None, got {speed}")
        self.path = Path(path)
        self.format = PcmFormat(Encoding.LINEAR16, FILE_RATE, 1)
        self.chunk_frames = max(1, round(chunk_seconds * FILE_RATE))
        self.speed = speed
        self._sleep, self._clock = sleep, clock
        self._pcm = to_linear16(load_file(self.path, FILE_RATE))

    @property
    def live(self) -> bool:
        """True when chunks arrive at a real-time pace (lag against real time is meaningful)."""
        return self.speed is not None

    @property
    def seconds(self) -> float:
        """Length of the decoded audio."""
        return len(self._pcm) / self.format.frame_bytes / FILE_RATE

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release; present so every source is a context manager."""

    def __iter__(self) -> Iterator[bytes]:
        step = self.chunk_frames * self.format.frame_bytes
        began = self._clock()
        for i, pos in enumerate(range(0, len(self._pcm), step)):
            if self.speed is not None:
                due = began + i * self.chunk_frames / FILE_RATE / self.speed
                wait = due - self._clock()
                if wait > 0:
                    self._sleep(wait)
            yield self._pcm[pos:pos + step]


@dataclass(frozen=True)
class InputDevice:
    """One capture device as PortAudio describes it."""

    index: int
    name: str
    channels: int
    default_rate: float


def load_pyaudio() -> ModuleType:
    """Import PyAudio only when a microphone is used, so file streaming works without it."""
    import pyaudio

    return pyaudio


def list_input_devices(pyaudio_module: Any) -> list[InputDevice]:
    """Every device that can capture audio."""
    pa = pyaudio_module.PyAudio()
    try:
        infos = (pa.get_device_info_by_index(i) for i in range(pa.get_device_count()))
        return [
            InputDevice(int(d["index"]), str(d["name"]), int(d["maxInputChannels"]), float(d["defaultSampleRate"]))
            for d in infos
            if int(d["maxInputChannels"]) > 0
        ]
    finally:
        pa.terminate()


class MicrophoneSource:
    """Microphone capture by the PyAudio callback-into-queue pattern; iterate inside `with`.

    The PortAudio callback only copies the bytes into a bounded queue. If the queue overflows
    (the consumer stalled) or PortAudio reports an input overflow, the loss is counted and
    reported through `report` by the consuming side; audio is never lost silently.
    """

    live = True  # audio arrives in real time

    def __init__(
        self,
        pyaudio_module: Any = None,
        device: int | None = None,
        rate: int = 16_000,
        chunk_seconds: float = 0.1,
        queue_seconds: float = 10.0,
        report: Reporter = _ignore,
    ) -> None:
        self.format = PcmFormat(Encoding.LINEAR16, rate, 1)
        self.chunk_frames = max(1, round(chunk_seconds * rate))
        self.device = device
        self._module = pyaudio_module
        self._report = report
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=max(1, round(queue_seconds / chunk_seconds)))
        self._lock = threading.Lock()
        self._dropped_frames = 0  # frames lost because the queue was full
        self._overflows = 0  # PortAudio input-overflow flags seen
        self._reported = (0, 0)
        self._pa: Any = None
        self._stream: Any = None
        self._closed = threading.Event()

    def __enter__(self) -> MicrophoneSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Start capturing; raises OSError (from PortAudio) when the device cannot be opened."""
        module = self._module if self._module is not None else load_pyaudio()
        self._module = module
        self._pa = module.PyAudio()
        try:
            self._stream = self._pa.open(
                format=module.paInt16,
                channels=1,
                rate=self.format.sample_rate,
                input=True,
                input_device_index=self.device,
                frames_per_buffer=self.chunk_frames,
                stream_callback=self._callback,
            )
            self._stream.start_stream()
        except OSError as exc:
            self.close()
            which = "the default microphone" if self.device is None else f"capture device {self.device}"
            raise OSError(f"cannot open {which} at {self.format.sample_rate} Hz ({exc}); "
                          "see --list-devices, --device and --rate, or stream a file with --file") from exc
        except Exception:
            self.close()
            raise

    def _callback(self, in_data: bytes | None, frame_count: int, time_info: Any, status: int) -> tuple:
        """PortAudio thread: copy and queue, never block; count what cannot be queued."""
        if status & self._module.paInputOverflow:
            with self._lock:
                self._overflows += 1
        if in_data:
            try:
                self._queue.put_nowait(bytes(in_data))
            except queue.Full:
                with self._lock:
                    self._dropped_frames += frame_count
        return None, self._module.paContinue

    def close(self) -> None:
        """Stop capture and release PortAudio; iteration ends once the queue is drained."""
        self._closed.set()
        stream, self._stream = self._stream, None
        pa, self._pa = self._pa, None
        if stream is not None:
            stream.stop_stream()
            stream.close()
        if pa is not None:
            pa.terminate()

    def __iter__(self) -> Iterator[bytes]:
        if self._stream is None and not self._closed.is_set():
            raise RuntimeError("open the MicrophoneSource (use it as a context manager) before iterating")
        while True:
            try:
                chunk = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._closed.is_set() or not self._stream_active():
                    self._report_losses()
                    return
                continue
            self._report_losses()
            yield chunk

    def _stream_active(self) -> bool:
        stream = self._stream
        return stream is not None and bool(stream.is_active())

    def _report_losses(self) -> None:
        with self._lock:
            now = (self._dropped_frames, self._overflows)
        if now == self._reported:
            return
        dropped = now[0] - self._reported[0]
        overflows = now[1] - self._reported[1]
        self._reported = now
        if dropped:
            self._report(
                f"capture queue overflowed: {dropped / self.format.sample_rate:.2f} s of microphone audio "
                "was dropped because the client could not keep up"
            )
        if overflows:
            self._report(f"the audio device reported {overflows} input overflow(s): some samples were lost")

    @property
    def dropped_seconds(self) -> float:
        """Audio lost to queue overflow so far."""
        with self._lock:
            return self._dropped_frames / self.format.sample_rate
