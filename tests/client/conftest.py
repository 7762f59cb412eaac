"""Client test fixtures: a clip on disk, a fake PyAudio at the capture boundary, client options, and a sink
that bounces the server mid-stream."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechsense.client.display import RecordingSink
from speechsense.client.options import ClientOptions
from speechsense.client.sources import to_linear16
from speechsense.windowing import expected_windows


class FakeStream:
    """A PortAudio input stream that calls the callback with canned audio, as the real one would."""

    def __init__(self, module: FakePyAudioModule, frames_per_buffer: int, stream_callback, **kwargs) -> None:
        self.module, self.frames, self.callback, self.kwargs = module, frames_per_buffer, stream_callback, kwargs
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.closed = False

    def start_stream(self) -> None:
        if self.module.synchronous:
            self._run()
        else:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        step = self.frames * 2
        pcm = self.module.pcm
        for i, pos in enumerate(range(0, len(pcm), step)):
            if self._stop.is_set():
                return
            chunk = pcm[pos:pos + step]
            status = self.module.paInputOverflow if i in self.module.overflow_at else 0
            self.callback(chunk, len(chunk) // 2, {}, status)
            if self.module.pace:
                time.sleep(self.frames / self.kwargs["rate"] * self.module.pace)

    def is_active(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def stop_stream(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def close(self) -> None:
        self.closed = True


class FakePyAudio:
    """The PyAudio object: device queries and open()."""

    def __init__(self, module: FakePyAudioModule) -> None:
        self.module = module

    def get_device_count(self) -> int:
        return len(self.module.devices)

    def get_device_info_by_index(self, index: int) -> dict:
        return self.module.devices[index]

    def open(self, **kwargs) -> FakeStream:
        if kwargs.get("input_device_index") not in (None, *range(len(self.module.devices))):
            raise OSError(-9996, "Invalid input device")
        stream = FakeStream(self.module, **kwargs)
        self.module.streams.append(stream)
        return stream

    def terminate(self) -> None:
        self.module.terminated += 1


class FakePyAudioModule:
    """Stands in for the `pyaudio` module: constants, PyAudio(), and the audio its streams deliver."""

    paInt16 = 8
    paContinue = 0
    paInputOverflow = 2

    def __init__(self, samples: np.ndarray, pace: float = 0.0, synchronous: bool = False,
                 overflow_at: tuple[int, ...] = ()) -> None:
        self.pcm = to_linear16(samples)
        self.pace, self.synchronous, self.overflow_at = pace, synchronous, overflow_at
        self.streams: list[FakeStream] = []
        self.terminated = 0
        self.devices = [
            {"index": 0, "name": "fake speaker", "maxInputChannels": 0, "defaultSampleRate": 48000.0},
            {"index": 1, "name": "fake microphone", "maxInputChannels": 1, "defaultSampleRate": 16000.0},
        ]

    def PyAudio(self) -> FakePyAudio:  # noqa: N802 - mirrors pyaudio.PyAudio
        return FakePyAudio(self)


@pytest.fixture
def fake_pyaudio(speech_clip):
    """make(samples=None, **kw) -> a fake pyaudio module delivering the speech clip (or given samples)."""
    def make(samples: np.ndarray | None = None, **kwargs) -> FakePyAudioModule:
        return FakePyAudioModule(speech_clip[0] if samples is None else samples, **kwargs)

    return make


@pytest.fixture
def clip_windows(speech_clip) -> Callable[[object], int]:
    """count(plan) -> how many windows a session's window plan (result.plan) makes of the whole speech clip."""
    samples, rate = speech_clip

    def count(plan) -> int:
        return expected_windows(len(samples), round(plan.window_seconds * rate), round(plan.hop_seconds * rate), rate)

    return count


@pytest.fixture
def clip_file(speech_clip, tmp_path) -> Path:
    """The synthetic speech clip as a 44.1 kHz stereo FLAC, so the client must decode and resample."""
    import soxr

    samples, rate = speech_clip
    resampled = soxr.resample(samples, rate, 44_100)
    path = tmp_path / "speech.flac"
    sf.write(path, np.stack([resampled, resampled], axis=1), 44_100, subtype="PCM_16")
    return path


@pytest.fixture
def client_options():
    """make(address, **overrides) -> ClientOptions with fast test-friendly backoff."""
    def make(address: str, **overrides) -> ClientOptions:
        base = {"server": address, "backoff_initial": 0.2, "backoff_max": 1.0, "retries": 8}
        return ClientOptions(**{**base, **overrides})

    return make


class BouncingSink(RecordingSink):
    """Records results; once window `window` (or utterance `utterance`) arrives, runs `bounce` in a thread.

    `bounce` takes the server down and brings another up on the same port, so the client meets the
    fault mid-stream while it keeps sending; `restarted` is set when the new server is up.
    """

    def __init__(self, bounce: Callable[[], None], window: int | None = None, utterance: int | None = None) -> None:
        super().__init__()
        self.bounce, self.at_window, self.at_utterance = bounce, window, utterance
        self.restarted = threading.Event()
        self.thread: threading.Thread | None = None

    def window(self, result) -> None:
        super().window(result)
        self._maybe_bounce(result.index, self.at_window)

    def utterance(self, result) -> None:
        super().utterance(result)
        self._maybe_bounce(result.index, self.at_utterance)

    def _maybe_bounce(self, index: int, at: int | None) -> None:
        if at is not None and index >= at and self.thread is None:
            self.thread = threading.Thread(target=self._run)
            self.thread.start()

    def _run(self) -> None:
        self.bounce()
        self.restarted.set()


@pytest.fixture
def bouncing_sink():
    """make(bounce, window=None, utterance=None) -> a BouncingSink (test modules cannot import conftest)."""
    return BouncingSink


@pytest.fixture
def restart_in_process(server_factory):
    """restart(handle) -> a bounce for BouncingSink: stop that in-process server at once, start one on its port."""
    def make(handle) -> Callable[[], None]:
        def bounce() -> None:
            port = handle.port
            handle.stop(grace=0)
            time.sleep(0.5)
            server_factory(port=port)

        return bounce

    return make
