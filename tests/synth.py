"""A tiny real ONNX model made on the fly, and test audio (from speechsense.synthetic), so tests need no corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from speechsense.features import FeatureConfig, Normalizer
from speechsense.labels import LABELS
from speechsense.modelmeta import ModelMetadata
from speechsense.synthetic import RATE, silence, speech_like, syllables  # noqa: F401 (tests import them from here)


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
