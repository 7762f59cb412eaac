"""Test audio and a tiny real ONNX model, made on the fly so tests need no corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from scipy.signal import lfilter

from speechsense.features import FeatureConfig, Normalizer
from speechsense.labels import LABELS
from speechsense.modelmeta import ModelMetadata

RATE = 16_000


def speech_like(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Voiced syllables: a glottal pulse train with a gliding pitch through two formant resonators."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t) + rng.uniform(-5, 5)
    pulses = (np.diff(np.floor(np.cumsum(f0) / rate), prepend=0) > 0).astype(np.float64)
    y = pulses
    for formant, bw in ((700, 130), (1220, 70), (2600, 160)):
        r = np.exp(-np.pi * bw / rate)
        y = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * formant / rate), r * r], y)
    syllable = 0.5 * (1 - np.cos(2 * np.pi * np.clip((t % 0.25) / 0.2, 0, 1)))  # 200 ms on, 50 ms off
    y = y * syllable + 0.002 * rng.standard_normal(n)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def syllables(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """speech_like's voice with its syllable envelope audible: the resonators' output is scaled up before
    the envelope and a faint noise (-66 dB) are applied, so the level swings like speech does.

    (speech_like adds its noise before scaling, so its output is mostly steady white noise.)"""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t) + rng.uniform(-5, 5)
    y = (np.diff(np.floor(np.cumsum(f0) / rate), prepend=0) > 0).astype(np.float64)
    for formant, bw in ((700, 130), (1220, 70), (2600, 160)):
        r = np.exp(-np.pi * bw / rate)
        y = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * formant / rate), r * r], y)
    syllable = 0.5 * (1 - np.cos(2 * np.pi * np.clip((t % 0.25) / 0.2, 0, 1)))  # 200 ms on, 50 ms off
    y = y / np.max(np.abs(y)) * syllable + 0.001 * rng.standard_normal(n)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def silence(seconds: float, rate: int = RATE, level: float = 1e-4, seed: int = 1) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * rate))).astype(np.float32)


def tiny_model(path: Path, config: FeatureConfig | None = None, seed: int = 0) -> Path:
    """A real ONNX classifier (time-mean, linear, softmax) with valid SpeechSense metadata.

    Its weights are random: it exists to exercise the serving path, not to recognise emotions.
    """
    config = config or FeatureConfig()
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((config.n_features, len(LABELS))).astype(np.float32)
    b = np.zeros(len(LABELS), dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["features", "axes"], ["pooled"], keepdims=0),
            helper.make_node("MatMul", ["pooled", "w"], ["logits0"]),
            helper.make_node("Add", ["logits0", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        "tiny",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", config.frames, config.n_features])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(LABELS)])],
        [numpy_helper.from_array(np.array([1], np.int64), "axes"), numpy_helper.from_array(w, "w"),
         numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    meta = ModelMetadata(
        labels=LABELS, feature_config=config,
        normalizer=Normalizer(np.zeros(config.n_features, np.float32), np.ones(config.n_features, np.float32)),
        model_name="tiny-test-linear", model_version="0-test", training_preset="none (random weights)",
        training_data="none: a fixture for tests", protocol="none",
        metrics={"random": {"accuracy": 0.125, "uar": 0.125},
                 "speaker": {"uar_mean": 0.125, "uar_std": 0.0, "accuracy_mean": 0.125}},
    )
    helper.set_model_props(model, meta.to_props())
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
