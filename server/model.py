"""The ONNX model and its metadata, loaded once with explicit ONNX Runtime session options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from speechsense.modelmeta import ModelMetadata, ModelMetadataError
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
    """An ONNX emotion classifier: (batch, frames, features) standardised features -> label probabilities."""

    def __init__(self, path: Path, options: EngineOptions) -> None:
        path = Path(path)
        if not path.is_file():
            from speechsense.models import BUNDLED_MODELS

            raise ModelLoadError(f"model file {path} does not exist; bundled models by name: "
                                 f"{', '.join(BUNDLED_MODELS)}")
        self.path, self.options = path, options
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
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(f"{self.path}: expected one input and one output")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        cfg = self.meta.feature_config
        shape = inputs[0].shape
        if len(shape) != 3 or shape[1] not in (cfg.frames, None) or shape[2] not in (cfg.n_features, None):
            raise ModelLoadError(f"{self.path}: input shape {shape} does not match the feature config "
                                 f"(batch, {cfg.frames}, {cfg.n_features})")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.meta.labels

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Standardised features (n, frames, n_features) -> probabilities (n, labels), float32."""
        out = self.session.run([self.output_name], {self.input_name: features.astype(np.float32, copy=False)})
        return np.asarray(out[0], dtype=np.float32)

    def warm_up(self, max_batch: int = 32) -> None:
        """Run small and the largest batches once: the first real request pays no lazy initialisation, and
        ONNX Runtime's memory arena reaches its working size before serving instead of during it."""
        cfg = self.meta.feature_config
        for n in sorted({1, 4, max_batch}):
            self.predict(np.zeros((n, cfg.frames, cfg.n_features), dtype=np.float32))
