"""The ONNX model and its metadata, loaded once with explicit ONNX Runtime session options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from speechsense.features import compute_features
from speechsense.modelmeta import (
    BASELINE_INPUT,
    CALIBRATION_INPUTS,
    HEAD_INPUT_OUTPUT,
    PROFILE_HEAD_INPUT,
    WAVEFORM_INPUT,
    ModelMetadata,
    ModelMetadataError,
)
from speechsense.server.config import EngineOptions

_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


class ModelLoadError(RuntimeError):
    """The model file is missing, unreadable or lacks valid metadata."""


class EmotionModel:
    """An ONNX emotion classifier: its first input (standardised features (batch, frames, features), or for a
    waveform file the prepared windows (batch, samples), see inputs_of) -> label probabilities.

    A calibrated file also takes a speaker baseline (zeros for none) and which head reads it (the profile
    head, or the population head), and returns its head input, the per-window vector a baseline is made of;
    `calibration_size` is its length (0 for other files).
    """

    def __init__(self, path: Path, options: EngineOptions) -> None:
        path = Path(path)
        if not path.is_file():
            from speechsense.models import BUNDLED_MODELS

            raise ModelLoadError(f"model file {path} does not exist; bundled models by name: "
                                 f"{', '.join(BUNDLED_MODELS)}")
        self.path, self.options = path, options
        self._head: ort.InferenceSession | None = None
        # 0 (auto) starts with one thread; the engine's warm-up may give inference more (use_threads)
        self.session = self._session(options.intra_op_threads or 1)
        props = dict(self.session.get_modelmeta().custom_metadata_map)
        try:
            self.meta = ModelMetadata.from_props(props, source=str(path))
        except ModelMetadataError as exc:
            raise ModelLoadError(str(exc)) from None
        self._check_io()

    def _session(self, intra_op_threads: int) -> ort.InferenceSession:
        so = ort.SessionOptions()
        so.intra_op_num_threads = intra_op_threads
        so.inter_op_num_threads = self.options.inter_op_threads
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.options.intra_op_spinning else "0")
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = _OPT_LEVELS[self.options.graph_optimization]
        try:
            session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several unrelated types for a bad file
            raise ModelLoadError(f"cannot load model {self.path}: {exc}") from None
        self.intra_op_threads = intra_op_threads
        return session

    def use_threads(self, intra_op_threads: int) -> None:
        """Reload the session with another intra-op thread count (before serving: it is not thread-safe
        against running predictions)."""
        if intra_op_threads != self.intra_op_threads:
            self.session = self._session(intra_op_threads)

    def _check_io(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        self.calibration_size = 0
        calibrated = (tuple(i.name for i in inputs[1:]) == CALIBRATION_INPUTS
                      and [o.name for o in outputs[1:]] == [HEAD_INPUT_OUTPUT])
        if calibrated:
            size = inputs[1].shape[-1]
            if not isinstance(size, int) or outputs[1].shape[-1] != size:
                raise ModelLoadError(f"{self.path}: baseline input and head_input output must have one fixed size")
            self.calibration_size = size
        elif len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(f"{self.path}: expected one input and one output, or a calibrated model's "
                                 f"{list(CALIBRATION_INPUTS)} inputs and '{HEAD_INPUT_OUTPUT}' output beside them")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        cfg = self.meta.feature_config
        shape = inputs[0].shape
        if self.takes_waveform:
            if len(shape) != 2 or shape[1] not in (cfg.window_samples, None):
                raise ModelLoadError(f"{self.path}: a waveform model's input must be (batch, {cfg.window_samples}), "
                                     f"got {shape}")
        elif len(shape) == 2:
            raise ModelLoadError(f"{self.path}: its input {shape} is a waveform but its metadata says features: "
                                 "re-export it with `speechsense-export waveform FEATURE_MODEL --out FILE`")
        elif len(shape) != 3 or shape[1] not in (cfg.frames, None) or shape[2] not in (cfg.n_features, None):
            raise ModelLoadError(f"{self.path}: input shape {shape} does not match the feature config "
                                 f"(batch, {cfg.frames}, {cfg.n_features})")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.meta.labels

    @property
    def takes_waveform(self) -> bool:
        """Whether the front-end is inside the graph (export/waveform.py): one call scores prepared windows."""
        return self.meta.model_input == WAVEFORM_INPUT

    def inputs_of(self, prepared: np.ndarray) -> np.ndarray:
        """The graph's first input for prepared windows (n, window_samples): the windows themselves for a
        waveform file, else the Python front-end's standardised features."""
        prepared = np.asarray(prepared, dtype=np.float32)
        if self.takes_waveform:
            return prepared
        return self.meta.normalizer.apply(compute_features(prepared, self.meta.feature_config))

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The graph's first input (see inputs_of) -> probabilities (n, labels), float32."""
        return self.predict_calibrated(features)[0]

    def predict_calibrated(self, features: np.ndarray, baselines: np.ndarray | None = None,
                           profile_head: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """(probabilities, head inputs or None): baselines (n, calibration_size), zero rows for none;
        profile_head (n,) true where the profile head reads the row."""
        feeds = {self.input_name: features.astype(np.float32, copy=False)}
        if not self.calibration_size:
            return np.asarray(self.session.run([self.output_name], feeds)[0], dtype=np.float32), None
        feeds |= self._calibration_feeds(len(features), baselines, profile_head)
        probs, head = self.session.run([self.output_name, HEAD_INPUT_OUTPUT], feeds)
        return np.asarray(probs, dtype=np.float32), np.asarray(head, dtype=np.float32)

    def _calibration_feeds(self, n: int, baselines: np.ndarray | None, profile_head: np.ndarray | None) -> dict:
        if baselines is None:
            baselines = np.zeros((n, self.calibration_size), np.float32)
        flags = np.zeros((n, 1), np.float32) if profile_head is None else np.asarray(
            profile_head, np.float32).reshape(n, 1)
        return {BASELINE_INPUT: baselines.astype(np.float32, copy=False), PROFILE_HEAD_INPUT: flags}

    def rescore(self, head_inputs: np.ndarray, baselines: np.ndarray) -> np.ndarray:
        """Probabilities of known head inputs against other baselines by the population head, without running
        the encoder again (session calibration: each window is read against the windows before it)."""
        if self._head is None:
            self._head = self._head_session()
        feeds = {HEAD_INPUT_OUTPUT: head_inputs.astype(np.float32, copy=False)}
        feeds |= self._calibration_feeds(len(head_inputs), baselines, None)
        return np.asarray(self._head.run([self.output_name], feeds)[0], dtype=np.float32)

    def _head_session(self) -> ort.InferenceSession:
        """The part of the graph after the head input, cut out of the same file."""
        import onnx
        from onnx.utils import Extractor

        head = Extractor(onnx.load(str(self.path))).extract_model([HEAD_INPUT_OUTPUT, *CALIBRATION_INPUTS],
                                                                  [self.output_name])
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        return ort.InferenceSession(head.SerializeToString(), so, providers=["CPUExecutionProvider"])

    def warm_up(self, max_batch: int = 32) -> None:
        """Run small and the largest batches once: the first real request pays no lazy initialisation, and
        ONNX Runtime's memory arena reaches its working size before serving instead of during it."""
        cfg = self.meta.feature_config
        shape = (cfg.window_samples,) if self.takes_waveform else (cfg.frames, cfg.n_features)
        for n in sorted({1, 4, max_batch}):
            self.predict(np.zeros((n, *shape), dtype=np.float32))
        if self.calibration_size:
            zeros = np.zeros((1, self.calibration_size), np.float32)
            self.rescore(zeros, zeros)
