"""Cutting a stream of samples into fixed windows at a hop, with memory bounded by one window."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

# A clip shorter than one window still gets one (zero-padded) window if it holds at least this much.
MIN_PARTIAL_SECONDS = 0.5
# The API's WindowSpec rules (protos/speechsense/v1/emotion.proto), shared by server and client.
MIN_WINDOW_SECONDS = 0.5
MIN_HOP_SECONDS = 0.1
DEFAULT_HOP_SECONDS = 1.0  # when neither the stream nor the model names a hop


class PlanError(ValueError):
    """A window or hop outside the API's WindowSpec ranges."""


@dataclass(frozen=True)
class WindowPlan:
    """The window length and hop a stream runs with: the one rule the server cuts by and the client resumes by.

    The client resumes after a reconnect at window i's i * hop, so both must resolve plans here.
    """

    window_seconds: float
    hop_seconds: float

    @classmethod
    def resolve(cls, window_seconds: float, hop_seconds: float, model_window: float,
                model_hop: float) -> WindowPlan:
        """0 means unset: the model's window, and the model's hop capped at the window."""
        window = window_seconds or model_window
        return cls(window, hop_seconds or min(model_hop or DEFAULT_HOP_SECONDS, window))

    def check(self, model_window: float) -> WindowPlan:
        """This plan if it is inside the WindowSpec ranges for a model of `model_window` s; PlanError otherwise."""
        if not MIN_WINDOW_SECONDS <= self.window_seconds <= model_window + 1e-6:
            raise PlanError(f"window_seconds {self.window_seconds} is outside {MIN_WINDOW_SECONDS}..{model_window}")
        if not MIN_HOP_SECONDS - 1e-6 <= self.hop_seconds <= self.window_seconds + 1e-6:
            raise PlanError(f"hop_seconds {self.hop_seconds} is outside {MIN_HOP_SECONDS}..{self.window_seconds}")
        return self


@dataclass(frozen=True)
class Window:
    index: int
    start: int  # first sample, in stream samples at the model's rate
    end: int  # one past the last real (not padded) sample
    samples: np.ndarray


class StreamWindower:
    """Accumulates samples and yields each full window as soon as it is complete.

    Window i covers samples [i * hop, i * hop + window). Only samples that a future window
    still needs are kept, so memory is bounded by the window length, not the stream's.
    """

    def __init__(self, window: int, hop: int, sample_rate: int) -> None:
        if window <= 0 or not 0 < hop <= window:
            raise ValueError(f"need 0 < hop ({hop}) <= window ({window})")
        self.window, self.hop, self.sample_rate = window, hop, sample_rate
        self._buf = np.zeros(window + max(hop, 4096), dtype=np.float32)
        self._len = 0  # valid samples in _buf
        self._buf_start = 0  # stream position of _buf[0]
        self.total = 0  # samples received
        self.emitted = 0  # windows yielded

    def push(self, samples: np.ndarray) -> Iterator[Window]:
        """Add samples; yield every window they complete."""
        samples = np.asarray(samples, dtype=np.float32)
        pos = 0
        while pos < samples.size:
            space = self._buf.size - self._len
            take = min(space, samples.size - pos)
            self._buf[self._len:self._len + take] = samples[pos:pos + take]
            self._len += take
            self.total += take
            pos += take
            yield from self._drain()

    def _drain(self) -> Iterator[Window]:
        while True:
            start = self.emitted * self.hop
            offset = start - self._buf_start
            if offset + self.window > self._len:
                break
            win = self._buf[offset:offset + self.window].copy()
            yield Window(self.emitted, start, start + self.window, win)
            self.emitted += 1
        # Drop what no later window needs, keeping the buffer bounded.
        keep_from = self.emitted * self.hop - self._buf_start
        if keep_from > 0:
            keep_from = min(keep_from, self._len)
            self._buf[:self._len - keep_from] = self._buf[keep_from:self._len]
            self._len -= keep_from
            self._buf_start += keep_from

    def finish(self) -> Window | None:
        """At end of audio: one zero-padded window when the clip never filled a window but holds enough."""
        if self.emitted or self.total < MIN_PARTIAL_SECONDS * self.sample_rate:
            return None
        win = np.zeros(self.window, dtype=np.float32)
        win[:self._len] = self._buf[:self._len]
        self.emitted = 1
        return Window(0, 0, self.total, win)


def expected_windows(n_samples: int, window: int, hop: int, sample_rate: int) -> int:
    """How many windows StreamWindower yields for n_samples in total (the API's documented rule)."""
    if n_samples >= window:
        return (n_samples - window) // hop + 1
    return 1 if n_samples >= MIN_PARTIAL_SECONDS * sample_rate else 0
