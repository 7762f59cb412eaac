"""Every API message the service builds or reads: results, summaries, model info, and request fields to domain values.

One module, so that a field added to the v1 messages is filled in one place for every transport.
"""

from __future__ import annotations

import json

import numpy as np

from speechsense.audio import AudioError, Encoding, PcmFormat
from speechsense.server.utterances import Utterance
from speechsense.v1 import emotion_pb2 as pb
from speechsense.windowing import PlanError, Window, WindowPlan


def _scores(labels: tuple[str, ...], values) -> list[pb.LabelScore]:
    return [pb.LabelScore(label=lab, score=float(s)) for lab, s in zip(labels, values, strict=True)]


def window_result(window: Window, probabilities: np.ndarray | None, labels: tuple[str, ...],
                  rate: int) -> pb.WindowResult:
    """The API message for one scored window (probabilities None: skipped as silence)."""
    scores = probabilities if probabilities is not None else np.zeros(len(labels), np.float32)
    top = int(np.argmax(scores))
    speech = probabilities is not None
    return pb.WindowResult(
        index=window.index,
        start_seconds=window.start / rate,
        end_seconds=window.end / rate,
        scores=_scores(labels, scores),
        top_label=labels[top] if speech else "",
        top_score=float(scores[top]) if speech else 0.0,
        is_speech=speech,
    )


def utterance_result(utterance: Utterance, probabilities: np.ndarray, windows: int, labels: tuple[str, ...],
                     rate: int) -> pb.UtteranceResult:
    """The API message for one scored utterance (probabilities: the mean over its windows)."""
    top = int(np.argmax(probabilities))
    return pb.UtteranceResult(
        index=utterance.index,
        start_seconds=utterance.start / rate,
        end_seconds=utterance.end / rate,
        scores=_scores(labels, probabilities),
        top_label=labels[top],
        top_score=float(probabilities[top]),
        window_count=windows,
        cut_at_max_length=utterance.cut,
    )


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
            mean_scores=_scores(self.labels, mean),
            dominant_label=self.labels[int(np.argmax(mean))] if speech else "",
            top_label_counts=self._counts,
            audio_seconds=audio_seconds,
            windows_analyzed=self.analyzed,
            windows_skipped_silence=self.skipped,
            end_reason=end_reason,
            utterances_analyzed=self.utterances,
            calibration=self.calibration,
        )


def model_info(model, min_profile_seconds: float) -> pb.GetModelInfoResponse:
    """GetModelInfo's reply for a loaded EmotionModel: what the file says about itself."""
    meta = model.meta
    m = meta.metrics
    cfg = meta.feature_config
    return pb.GetModelInfoResponse(
        labels=list(meta.labels), sample_rate_hz=cfg.sample_rate,
        window_seconds=cfg.window_seconds, default_hop_seconds=meta.default_hop_seconds,
        feature_set=cfg.feature_set, model_name=meta.model_name,
        model_version=meta.model_version,
        metrics=pb.ModelMetrics(
            random_accuracy=m["random"]["accuracy"], random_uar=m["random"]["uar"],
            speaker_uar_mean=m["speaker"]["uar_mean"], speaker_uar_std=m["speaker"]["uar_std"],
            speaker_accuracy_mean=m["speaker"]["accuracy_mean"]),
        feature_config_json=cfg.to_json(), metrics_json=json.dumps(m, sort_keys=True),
        training_preset=meta.training_preset, training_data=meta.training_data,
        model_family=meta.model_family, encoder_name=meta.encoder_name, encoder_license=meta.encoder_license,
        supports_calibration=bool(model.calibration_size), calibration_size=model.calibration_size,
        min_profile_speech_seconds=min_profile_seconds if model.calibration_size else 0.0,
    )


def window_plan(spec: pb.WindowSpec, model_window: float, model_hop: float) -> WindowPlan:
    """The API's WindowSpec with its defaults and ranges; AudioError names a bad value."""
    try:
        return WindowPlan.resolve(spec.window_seconds, spec.hop_seconds, model_window, model_hop).check(model_window)
    except PlanError as exc:
        raise AudioError(str(exc)) from None


def pcm_format(fmt: pb.AudioFormat) -> PcmFormat:
    """API AudioFormat to the core's PcmFormat; AudioError names what is unsupported."""
    encodings = {pb.AUDIO_ENCODING_LINEAR16: Encoding.LINEAR16, pb.AUDIO_ENCODING_FLOAT32: Encoding.FLOAT32}
    if fmt.encoding not in encodings:
        name = pb.AudioEncoding.Name(fmt.encoding) if fmt.encoding in pb.AudioEncoding.values() else fmt.encoding
        raise AudioError(f"unsupported audio encoding {name}; use AUDIO_ENCODING_LINEAR16 or "
                         "AUDIO_ENCODING_FLOAT32")
    return PcmFormat(encodings[fmt.encoding], fmt.sample_rate_hz, fmt.channels or 1)
