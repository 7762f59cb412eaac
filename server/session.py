"""One stream's or clip's audio: format conversion, incremental resampling, and windows or utterances."""

from __future__ import annotations

import numpy as np

from speechsense.audio import PcmFormat, StreamResampler, pcm_to_mono
from speechsense.server.utterances import Segmenter, Utterance
from speechsense.windowing import StreamWindower, Window, WindowPlan


class LimitExceeded(Exception):
    """A configured per-call limit was reached (maps to RESOURCE_EXHAUSTED)."""


class AudioSession:
    """Raw audio in, complete windows (or, with a segmenter, ended utterances) at the model's rate out.

    Memory is bounded by one window, or by one utterance and its closing silence.
    """

    def __init__(self, fmt: PcmFormat | None, plan: WindowPlan, model_rate: int, max_seconds: float,
                 segmenter: Segmenter | None = None) -> None:
        self.fmt, self.plan, self.model_rate, self.max_seconds = fmt, plan, model_rate, max_seconds
        self._resampler = StreamResampler(fmt.sample_rate, model_rate) if fmt else None
        self.windower = StreamWindower(int(round(plan.window_seconds * model_rate)),
                                       int(round(plan.hop_seconds * model_rate)), model_rate)
        self.segmenter = segmenter
        self.audio_seconds = 0.0
        self.cut_short = False  # the server stopped reading before the client half-closed

    def push_pcm(self, data: bytes) -> list[Window | Utterance]:
        """A chunk of raw bytes in the session's format."""
        samples = pcm_to_mono(data, self.fmt)
        self._count(samples.size / self.fmt.sample_rate)
        return self._cut(self._resampler.push(samples))

    def push_model_rate(self, samples: np.ndarray) -> list[Window | Utterance]:
        """Samples already decoded to mono at the model's rate (encoded clips)."""
        self._count(samples.size / self.model_rate)
        return self._cut(samples)

    def finish(self) -> list[Window | Utterance]:
        """End of audio: flush the resampler and emit what completes, plus a short clip's one window
        (or the utterance still open)."""
        items = []
        if self._resampler is not None:
            items = self._cut(self._resampler.push(np.zeros(0, np.float32), last=True))
        if self.segmenter is not None:
            return items + self.segmenter.finish()
        last = self.windower.finish()
        return items + ([last] if last else [])

    def _cut(self, samples: np.ndarray) -> list[Window | Utterance]:
        if self.segmenter is not None:
            return self.segmenter.push(samples)
        return list(self.windower.push(samples))

    def _count(self, seconds: float) -> None:
        self.audio_seconds += seconds
        if self.audio_seconds > self.max_seconds:
            raise LimitExceeded(f"audio exceeds the server's limit of {self.max_seconds:g} s per call")
