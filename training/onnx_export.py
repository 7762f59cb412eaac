"""SpeechSense metadata, a parity check and optional int8 quantisation for models converted to ONNX.

The model's input is the standardised (frames, n_features) matrix named "features" (batch
dynamic); its output is named "probabilities". Normalisation stays outside the graph: its
statistics travel in the metadata, applied by the server with the core Normalizer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from speechsense.modelmeta import ModelMetadata

# The conversion itself sits in training (below export); its names stay importable from here.
from speechsense.training.onnx_convert import INPUT_NAME as INPUT_NAME
from speechsense.training.onnx_convert import OPSET as OPSET
from speechsense.training.onnx_convert import OUTPUT_NAME as OUTPUT_NAME
from speechsense.training.onnx_convert import keras_to_onnx as keras_to_onnx

PARITY_TOLERANCE = 1e-4
MAX_QUANT_ACCURACY_LOSS = 0.005


class ParityError(RuntimeError):
    """Keras and ONNX Runtime disagree beyond tolerance."""


@dataclass(frozen=True)
class Parity:
    """How closely ONNX Runtime reproduces Keras on a set of windows."""

    n_windows: int
    max_abs_diff: float
    mean_abs_diff: float
    argmax_mismatches: int

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= PARITY_TOLERANCE and self.argmax_mismatches == 0

    def describe(self) -> str:
        return (f"parity on {self.n_windows} real windows: max |diff| {self.max_abs_diff:.2e}, "
                f"mean |diff| {self.mean_abs_diff:.2e}, argmax mismatches {self.argmax_mismatches}")


def attach_metadata(proto: onnx.ModelProto, metadata: ModelMetadata) -> onnx.ModelProto:
    """Replace metadata_props with the model's ModelMetadata (validated on the way in)."""
    del proto.metadata_props[:]
    for key, value in metadata.to_props().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto


def read_metadata(path: Path) -> ModelMetadata:
    """A model file's metadata, exactly as the server reads it; ModelMetadataError when missing/invalid."""
    proto = onnx.load(str(path), load_external_data=False)
    return ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props}, source=str(path))


def session(path: Path, threads: int = 2) -> ort.InferenceSession:
    """An ONNX Runtime CPU session with a fixed thread count."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_onnx(sess: ort.InferenceSession, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Probabilities from an ONNX session, in batches."""
    return np.concatenate([sess.run([OUTPUT_NAME], {INPUT_NAME: x[i:i + batch]})[0]
                           for i in range(0, len(x), batch)])


def check_parity(keras_probs: np.ndarray, onnx_probs: np.ndarray) -> Parity:
    """Largest and mean absolute probability difference and argmax disagreements."""
    diff = np.abs(keras_probs.astype(np.float64) - onnx_probs.astype(np.float64))
    mismatches = int((keras_probs.argmax(1) != onnx_probs.argmax(1)).sum())
    return Parity(len(keras_probs), float(diff.max()), float(diff.mean()), mismatches)


def latency_ms(sess: ort.InferenceSession, x: np.ndarray, repeats: int = 200) -> float:
    """Median batch-1 latency in milliseconds."""
    one = x[:1]
    for _ in range(10):
        sess.run([OUTPUT_NAME], {INPUT_NAME: one})
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        sess.run([OUTPUT_NAME], {INPUT_NAME: x[i % len(x):i % len(x) + 1]})
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


def quantize(src: Path, dst: Path) -> None:
    """Dynamic int8 quantisation of MatMul and LSTM only (quantised convolutions were slower here)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), op_types_to_quantize=["MatMul", "LSTM"], weight_type=QuantType.QInt8)


def evaluate_quantized(fp32: Path, int8: Path, x: np.ndarray, y: np.ndarray) -> dict:
    """Speed and accuracy of the int8 model against fp32; `keep` says whether it qualifies to ship."""
    s32, s8 = session(fp32), session(int8)
    p32, p8 = run_onnx(s32, x), run_onnx(s8, x)
    acc32, acc8 = float((p32.argmax(1) == y).mean()), float((p8.argmax(1) == y).mean())
    lat32, lat8 = latency_ms(s32, x), latency_ms(s8, x)
    keep = lat8 < lat32 and acc32 - acc8 <= MAX_QUANT_ACCURACY_LOSS
    return {"fp32_accuracy": acc32, "int8_accuracy": acc8, "n_windows": len(x),
            "max_abs_diff_vs_fp32": float(np.abs(p32 - p8).max()),
            "argmax_changes_vs_fp32": int((p32.argmax(1) != p8.argmax(1)).sum()),
            "fp32_latency_ms": lat32, "int8_latency_ms": lat8,
            "fp32_bytes": fp32.stat().st_size, "int8_bytes": int8.stat().st_size, "keep": keep}
