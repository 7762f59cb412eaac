"""Window results and session summaries as plain values, and the summary computed client-side."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from speechsense.v1 import emotion_pb2


@dataclass(frozen=True)
class WindowView:
    """One window's result in session time (continuous across reconnects)."""

    index: int
    start_seconds: float
    end_seconds: float
    scores: dict[str, float]  # in the model's label order
    top_label: str
    top_score: float
    is_speech: bool

    @classmethod
    def from_proto(cls, w: emotion_pb2.WindowResult, index_offset: int = 0, seconds_offset: float = 0.0
                   ) -> WindowView:
        """Convert a server result, shifting a resumed stream's index and times back into session time."""
        return cls(
            index=int(w.index) + index_offset,
            start_seconds=w.start_seconds + seconds_offset,
            end_seconds=w.end_seconds + seconds_offset,
            scores={s.label: float(s.score) for s in w.scores},
            top_label=w.top_label,
            top_score=float(w.top_score),
            is_speech=bool(w.is_speech),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON Lines object for this window."""
        return {
            "type": "window",
            "index": self.index,
            "start_seconds": round(self.start_seconds, 6),
            "end_seconds": round(self.end_seconds, 6),
            "is_speech": self.is_speech,
            "top_label": self.top_label,
            "top_score": round(self.top_score, 6),
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
        }


@dataclass(frozen=True)
class UtteranceView:
    """One utterance's result in session time (continuous across reconnects)."""

    index: int
    start_seconds: float
    end_seconds: float
    scores: dict[str, float]  # mean over its windows, in the model's label order
    top_label: str
    top_score: float
    window_count: int
    cut_at_max_length: bool

    @classmethod
    def from_proto(cls, u: emotion_pb2.UtteranceResult, index_offset: int = 0, seconds_offset: float = 0.0
                   ) -> UtteranceView:
        """Convert a server result, shifting a resumed stream's index and times back into session time."""
        return cls(
            index=int(u.index) + index_offset,
            start_seconds=u.start_seconds + seconds_offset,
            end_seconds=u.end_seconds + seconds_offset,
            scores={s.label: float(s.score) for s in u.scores},
            top_label=u.top_label,
            top_score=float(u.top_score),
            window_count=int(u.window_count),
            cut_at_max_length=bool(u.cut_at_max_length),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON Lines object for this utterance."""
        return {
            "type": "utterance",
            "index": self.index,
            "start_seconds": round(self.start_seconds, 6),
            "end_seconds": round(self.end_seconds, 6),
            "top_label": self.top_label,
            "top_score": round(self.top_score, 6),
            "window_count": self.window_count,
            "cut_at_max_length": self.cut_at_max_length,
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
        }


@dataclass(frozen=True)
class SummaryView:
    """A session's summary; `source` says whether the server or the client computed it."""

    mean_scores: dict[str, float]
    dominant_label: str
    top_label_counts: dict[str, int]
    audio_seconds: float
    windows_analyzed: int
    windows_skipped_silence: int
    source: Literal["server", "client"] = "server"
    reconnects: int = 0
    utterance_mode: bool = False  # means and counts are over utterances
    utterances_analyzed: int = 0
    calibration: str = "none"  # none | profile | session: how the scores were read

    @classmethod
    def from_proto(cls, s: emotion_pb2.SessionSummary, utterance_mode: bool = False) -> SummaryView:
        """Convert the server's summary."""
        return cls(
            mean_scores={m.label: float(m.score) for m in s.mean_scores},
            dominant_label=s.dominant_label,
            top_label_counts=_in_label_order(dict(s.top_label_counts), [m.label for m in s.mean_scores]),
            audio_seconds=float(s.audio_seconds),
            windows_analyzed=int(s.windows_analyzed),
            windows_skipped_silence=int(s.windows_skipped_silence),
            utterance_mode=utterance_mode,
            utterances_analyzed=int(s.utterances_analyzed),
            calibration=calibration_name(s.calibration),
        )

    def ranked_counts(self) -> list[tuple[str, int]]:
        """Labels that were top at least once, most often first; ties in the model's label order."""
        order = {label: i for i, label in enumerate(self.mean_scores)}
        return sorted(((k, v) for k, v in self.top_label_counts.items() if v),
                      key=lambda kv: (-kv[1], order.get(kv[0], len(order)), kv[0]))

    def to_json(self) -> dict[str, Any]:
        """The JSON Lines object for the summary (utterances_analyzed only in utterance mode)."""
        extra = {"utterances_analyzed": self.utterances_analyzed} if self.utterance_mode else {}
        return {
            "type": "summary",
            "mean_scores": {k: round(v, 6) for k, v in self.mean_scores.items()},
            "dominant_label": self.dominant_label,
            "top_label_counts": dict(self.top_label_counts),
            "audio_seconds": round(self.audio_seconds, 6),
            "windows_analyzed": self.windows_analyzed,
            "windows_skipped_silence": self.windows_skipped_silence,
            "computed_by": self.source,
            "reconnects": self.reconnects,
            "calibration": self.calibration,
        } | extra


def _in_label_order(counts: dict[str, int], labels: list[str]) -> dict[str, int]:
    """A proto map has no order: give it the model's label order (that of mean_scores), others after."""
    rank = {label: i for i, label in enumerate(labels)}
    return {k: int(counts[k]) for k in sorted(counts, key=lambda k: (rank.get(k, len(rank)), k))}


def labels_of(windows: list[WindowView], fallback: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The label order: from the first window's scores, else `fallback`."""
    return tuple(windows[0].scores) if windows and windows[0].scores else fallback


def calibration_name(value: int) -> str:
    """The Calibration enum as the client names it (UNSPECIFIED, from an older server: none)."""
    names = {emotion_pb2.CALIBRATION_PROFILE: "profile", emotion_pb2.CALIBRATION_SESSION: "session"}
    return names.get(value, "none")


def summarize(windows: list[WindowView], audio_seconds: float, labels: tuple[str, ...] = (),
              reconnects: int = 0, calibration: str = "none") -> SummaryView:
    """The session summary computed client-side the way the API defines it (means over speech windows)."""
    labels = labels_of(windows, labels)
    speech = [w for w in windows if w.is_speech]
    means = {label: 0.0 for label in labels}
    for w in speech:
        for label in labels:
            means[label] += w.scores.get(label, 0.0) / len(speech)
    dominant = max(labels, key=lambda label: means[label]) if speech and labels else ""
    counts = Counter(w.top_label for w in speech if w.top_label)
    return SummaryView(
        mean_scores=means,
        dominant_label=dominant,
        top_label_counts=dict(counts),
        audio_seconds=audio_seconds,
        windows_analyzed=len(windows),
        windows_skipped_silence=len(windows) - len(speech),
        source="client",
        reconnects=reconnects,
        calibration=calibration,
    )


def summarize_utterances(utterances: list[UtteranceView], audio_seconds: float, labels: tuple[str, ...] = (),
                         reconnects: int = 0, calibration: str = "none") -> SummaryView:
    """The utterance-mode summary computed client-side as the API defines it (means over utterances)."""
    labels = tuple(utterances[0].scores) if utterances and utterances[0].scores else labels
    means = {label: sum(u.scores.get(label, 0.0) for u in utterances) / max(len(utterances), 1) for label in labels}
    return SummaryView(
        mean_scores=means,
        dominant_label=max(labels, key=lambda label: means[label]) if utterances and labels else "",
        top_label_counts=dict(Counter(u.top_label for u in utterances)),
        audio_seconds=audio_seconds,
        windows_analyzed=sum(u.window_count for u in utterances),
        windows_skipped_silence=0,
        source="client",
        reconnects=reconnects,
        utterance_mode=True,
        utterances_analyzed=len(utterances),
        calibration=calibration,
    )
