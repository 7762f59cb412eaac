"""The model file's contract: the ONNX graph's input and output names and the metadata it carries.

This module is the file format's one specification, written by export and read by the server. Everything
the server needs to serve a model travels in the file's metadata_props, so a model file is self-describing;
a file whose metadata is missing or invalid is refused with a message naming what is wrong.

Graph interface. The first input is FEATURES_INPUT, the standardised feature matrix (batch, frames, features),
or for a waveform file WAVEFORM_INPUT, one prepared window of PCM (batch, window_samples); the first output is
PROBABILITIES_OUTPUT (batch, labels). A calibrated file adds the inputs CALIBRATION_INPUTS (a speaker baseline
(batch, n), zeros for none, and profile_head (batch, 1), 1 where the profile head reads the row) and the output
HEAD_INPUT_OUTPUT (batch, n), the standardised statistics a baseline is the mean of.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from speechsense.features import FeatureConfig, Normalizer
from speechsense.labels import LABELS

FEATURES_INPUT = "features"
WAVEFORM_INPUT = "waveform"
PROBABILITIES_OUTPUT = "probabilities"
BASELINE_INPUT = "baseline"
PROFILE_HEAD_INPUT = "profile_head"
CALIBRATION_INPUTS = (BASELINE_INPUT, PROFILE_HEAD_INPUT)
HEAD_INPUT_OUTPUT = "head_input"
# Metadata key naming the statistics tensor inside files that expose it (the linear heads read it).
HEAD_INPUT_KEY = "head_input"
# Keys of the optional "calibration" metadata object: the measured session rule ({"prior_windows", "max_weight"};
# absent: not offered) and the other model versions whose profiles the file reads (a re-export of the same head).
SESSION_RULE_KEY = "session"
PROFILE_VERSIONS_KEY = "profile_versions"
# Metadata keys every file carries (from_props refuses a file without one); the others are optional.
REQUIRED_KEYS = ("speechsense_format", "labels", "feature_config", "normalizer", "model_name", "model_version",
                 "training_preset", "training_data", "protocol", "metrics")

FORMAT_VERSION = "1"
MODEL_FAMILIES = ("hybrid", "encoder")
# What the graph's first input takes: the standardised feature matrix (batch, frames, features), or the
# prepared window itself (batch, window_samples), the front-end inside the graph (export/waveform.py).
MODEL_INPUTS = (FEATURES_INPUT, WAVEFORM_INPUT)
REQUIRED_METRICS = {
    "random": ("accuracy", "uar"),
    "speaker": ("uar_mean", "uar_std", "accuracy_mean"),
}


class ModelMetadataError(ValueError):
    """A model file's metadata is missing or invalid."""


@dataclass(frozen=True)
class ModelMetadata:
    labels: tuple[str, ...]
    feature_config: FeatureConfig
    normalizer: Normalizer
    model_name: str
    model_version: str
    training_preset: str
    training_data: str
    protocol: str
    metrics: dict = field(default_factory=dict)
    default_hop_seconds: float = 1.0
    # Which family the graph belongs to; files exported before families existed are hybrids.
    model_family: str = "hybrid"
    encoder_name: str = ""  # the pretrained encoder inside an "encoder" model, e.g. "whisper-base"
    encoder_license: str = ""
    # Calibrated files (training/linear/graph.py): the measured rule of session calibration, e.g.
    # {"session": {"prior_windows": 40, "max_weight": 0.5}}; no "session" key: that mode is not offered.
    calibration: dict = field(default_factory=dict)
    model_input: str = FEATURES_INPUT

    def to_props(self) -> dict[str, str]:
        """String key/value pairs for onnx.ModelProto.metadata_props."""
        validate_metrics(self.metrics)
        return {
            "speechsense_format": FORMAT_VERSION,
            "labels": json.dumps(list(self.labels)),
            "feature_config": self.feature_config.to_json(),
            "normalizer": self.normalizer.to_json(),
            "window_seconds": repr(self.feature_config.window_seconds),
            "default_hop_seconds": repr(self.default_hop_seconds),
            "model_name": self.model_name,
            "model_version": self.model_version,
            "training_preset": self.training_preset,
            "training_data": self.training_data,
            "protocol": self.protocol,
            "metrics": json.dumps(self.metrics, sort_keys=True),
            "model_family": self.model_family,
            "encoder_name": self.encoder_name,
            "encoder_license": self.encoder_license,
            **({"calibration": json.dumps(self.calibration, sort_keys=True)} if self.calibration else {}),
            # Written only for waveform files, so feature-input files' metadata stays as it was.
            **({"model_input": self.model_input, "waveform_preparation": waveform_preparation(self.feature_config)}
               if self.model_input != FEATURES_INPUT else {}),
        }

    @classmethod
    def from_props(cls, props: dict[str, str], source: str = "model") -> ModelMetadata:
        missing = [k for k in REQUIRED_KEYS if k not in props]
        if missing:
            raise ModelMetadataError(f"{source}: metadata is missing {', '.join(missing)}")
        try:
            labels = tuple(json.loads(props["labels"]))
            config = FeatureConfig.from_json(props["feature_config"])
            normalizer = Normalizer.from_json(props["normalizer"], config.n_features)
            metrics = json.loads(props["metrics"])
            validate_metrics(metrics)
            hop = float(props.get("default_hop_seconds", "1.0"))
            calibration = json.loads(props.get("calibration", "{}"))
            if not isinstance(calibration, dict):
                raise ValueError("calibration must be a JSON object")
        except (ValueError, TypeError, KeyError) as exc:
            raise ModelMetadataError(f"{source}: invalid metadata: {exc}") from None
        unknown = [lab for lab in labels if lab not in LABELS]
        if not labels or unknown or len(set(labels)) != len(labels):
            raise ModelMetadataError(f"{source}: labels must be distinct known labels, got {labels}")
        family = props.get("model_family", "hybrid")
        if family not in MODEL_FAMILIES:
            raise ModelMetadataError(f"{source}: model_family must be one of {', '.join(MODEL_FAMILIES)}, "
                                     f"got {family!r}")
        model_input = props.get("model_input", FEATURES_INPUT)
        if model_input not in MODEL_INPUTS:
            raise ModelMetadataError(f"{source}: model_input must be one of {', '.join(MODEL_INPUTS)}, "
                                     f"got {model_input!r}")
        return cls(labels, config, normalizer, props["model_name"], props["model_version"],
                   props["training_preset"], props["training_data"], props["protocol"], metrics, hop,
                   family, props.get("encoder_name", ""), props.get("encoder_license", ""), calibration,
                   model_input)


def waveform_preparation(config: FeatureConfig) -> str:
    """What a caller does to audio before a waveform file's graph (features.prepare_window), in words."""
    steps = [f"mono float32 PCM at {config.sample_rate} Hz, one window of {config.window_samples} samples"]
    if config.peak_normalize:
        steps.append("divided by its peak absolute value (when above 1e-6)")
    if config.trim_silence:
        steps.append(f"leading and trailing silence trimmed as librosa.effects.trim(top_db={config.trim_top_db:g}, "
                     f"frame_length={config.n_fft}, hop_length={config.hop_length})")
    steps.append(f"then zero-padded or cut to {config.window_samples} samples")
    return "; ".join(steps)


def validate_metrics(metrics: dict) -> None:
    """Metrics must hold every REQUIRED_METRICS entry as a fraction in 0..1."""
    if not isinstance(metrics, dict):
        raise ValueError("metrics must be a JSON object")
    for group, keys in REQUIRED_METRICS.items():
        for key in keys:
            value = metrics.get(group, {}).get(key) if isinstance(metrics.get(group), dict) else None
            if not isinstance(value, int | float) or math.isnan(value) or not 0 <= value <= 1:
                raise ValueError(f"metrics.{group}.{key} must be a number in 0..1, got {value!r}")
