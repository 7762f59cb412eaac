"""One stream's or clip's audio: format conversion, incremental resampling, windows, and the summary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from speechsense.audio import AudioError, Encoding, PcmFormat, StreamResampler, pcm_to_mono
from speechsense.server.utterances import Segmenter, Utterance
from speechsense.v1 import emotion_pb2 as pb
from speechsense.windowing import MIN_HOP_SECONDS, MIN_WINDOW_SECONDS, StreamWindower, Window, resolve_plan


class LimitExceeded(Exception):
    """A configured per-call limit was reached (maps to RESOURCE_EXHAUSTED)."""


@dataclass(frozen=True)
class WindowPlan:
    window_seconds: float
    hop_seconds: float

    @classmethod
    def resolve(cls, spec: pb.WindowSpec, model_window: float, model_hop: float) -> WindowPlan:
        """Apply defaults and ranges of the API's WindowSpec; AudioError names a bad value."""
        window, hop = resolve_plan(spec.window_seconds, spec.hop_seconds, model_window, model_hop)
        if not MIN_WINDOW_SECONDS <= window <= model_window + 1e-6:
            raise AudioError(f"window_seconds {spec.window_seconds} is outside {MIN_WINDOW_SECONDS}..{model_window}")
        if not MIN_HOP_SECONDS - 1e-6 <= hop <= window + 1e-6:
            raise AudioError(f"hop_seconds {spec.hop_seconds} is outside {MIN_HOP_SECONDS}..{window}")
        return cls(window, hop)


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


class SummaryBuilder:
    """Accumulates results into the session summary: speech windows, or utterances in utterance mode."""

    def __init__(self, labels: tuple[str, ...], calibration: int = pb.CALIBRATION_NONE) -> None:
        self.labels, self.calibration = labels, calibration
        self._sum = np.zeros(len(labels), dtype=np.float64)
        self._counts = dict.fromkeys(labels, 0)
        self._scored = 0  # results in the mean: speech windows, or utterances
        self.analyzed = 0
        self.skipped = 0
        self.utterances = 0

    def add(self, probabilities: np.ndarray | None) -> None:
        self.analyzed += 1
        if probabilities is None:
            self.skipped += 1
            return
        self._score(probabilities)

    def add_utterance(self, probabilities: np.ndarray, windows: int) -> None:
        self.analyzed += windows
        self.utterances += 1
        self._score(probabilities)

    def _score(self, probabilities: np.ndarray) -> None:
        self._scored += 1
        self._sum += probabilities
        self._counts[self.labels[int(np.argmax(probabilities))]] += 1

    def summary(self, audio_seconds: float, end_reason: int = pb.END_REASON_CLIENT_CLOSED) -> pb.SessionSummary:
        speech = self._scored
        mean = self._sum / speech if speech else self._sum
        return pb.SessionSummary(
            mean_scores=[pb.LabelScore(label=lab, score=float(s)) for lab, s in zip(self.labels, mean, strict=True)],
            dominant_label=self.labels[int(np.argmax(mean))] if speech else "",
            top_label_counts=self._counts,
            audio_seconds=audio_seconds,
            windows_analyzed=self.analyzed,
            windows_skipped_silence=self.skipped,
            end_reason=end_reason,
            utterances_analyzed=self.utterances,
            calibration=self.calibration,
        )


def window_result(window: Window, probabilities: np.ndarray | None, labels: tuple[str, ...],
                  rate: int) -> pb.WindowResult:
    """The API message for one scored window."""
    scores = probabilities if probabilities is not None else np.zeros(len(labels), np.float32)
    top = int(np.argmax(scores))
    speech = probabilities is not None
    return pb.WindowResult(
        index=window.index,
        start_seconds=window.start / rate,
        end_seconds=window.end / rate,
        scores=[pb.LabelScore(label=lab, score=float(s)) for lab, s in zip(labels, scores, strict=True)],
        top_label=labels[top] if speech else "",
        top_score=float(scores[top]) if speech else 0.0,
        is_speech=speech,
    )


def pcm_format(fmt: pb.AudioFormat) -> PcmFormat:
    """API AudioFormat to the core's PcmFormat; AudioError names what is unsupported."""
    encodings = {pb.AUDIO_ENCODING_LINEAR16: Encoding.LINEAR16, pb.AUDIO_ENCODING_FLOAT32: Encoding.FLOAT32}
    if fmt.encoding not in encodings:
        name = pb.AudioEncoding.Name(fmt.encoding) if fmt.encoding in pb.AudioEncoding.values() else fmt.encoding
        raise AudioError(f"unsupported audio encoding {name}; use AUDIO_ENCODING_LINEAR16 or "
                         "AUDIO_ENCODING_FLOAT32")
    return PcmFormat(encodings[fmt.encoding], fmt.sample_rate_hz, fmt.channels or 1)
