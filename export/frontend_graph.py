"""The feature front-end as ONNX nodes: prepared 16 kHz windows (batch, samples) in, standardised features out.

The same values as speechsense.features.compute_features and the normaliser (the Python front-end stays
the reference; tests/test_frontend_graph.py holds the two together), for both kinds:

- "mfcc": centred zero-padded Hann STFT, Slaney mel power, per-window power_to_db (80 dB floor),
  orthonormal DCT-II, Savitzky-Golay deltas, RMS and ZCR of librosa's framings, spectral contrast.
- "whisper_logmel": centred reflect-padded STFT, last frame dropped, log10 mel clamped 8 below each
  window's maximum, (x + 4) / 4.

The STFT is a Conv whose 2 x bins filters are the windowed cosine and sine bases: it frames, windows and
transforms in one GEMM; it beat ONNX Runtime's STFT operator on 512-point frames (2.9 against 3.7 ms a window,
batch 32, one thread: python benchmarks/frontend_graph_speed.py).
"""

from __future__ import annotations

import math

import librosa
import numpy as np
import onnx
from onnx import helper, numpy_helper

from speechsense.features import FeatureConfig, Normalizer, _whisper_matrices
from speechsense.frontend import _contrast_bands, _matrices
from speechsense.modelmeta import FEATURES_INPUT, WAVEFORM_INPUT


class _Graph:
    """Nodes and constants under one name prefix, each op returning its output's name."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.nodes, self.inits, self._n = prefix, [], [], 0

    def const(self, array: np.ndarray) -> str:
        self._n += 1
        name = f"{self.prefix}c{self._n}"
        # np.ascontiguousarray would turn a scalar into shape (1,), which Range refuses
        self.inits.append(numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def ints(self, *values: int) -> str:
        return self.const(np.array(values, np.int64))

    def f32(self, value: float) -> str:
        return self.const(np.array(value, np.float32))

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs) -> str:
        self._n += 1
        name = out or f"{self.prefix}{op_type.lower()}{self._n}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], name=f"{self.prefix}n{self._n}", **attrs))
        return name

    def outputs(self, op_type: str, inputs: list[str], count: int, **attrs) -> list[str]:
        self._n += 1
        names = [f"{self.prefix}{op_type.lower()}{self._n}_{i}" for i in range(count)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=f"{self.prefix}n{self._n}", **attrs))
        return names

    def slice(self, x: str, start: int, end: int, axis: int) -> str:
        return self.op("Slice", x, self.ints(start), self.ints(end), self.ints(axis))

    def db(self, power: str, floor_db: float, scale: float, amin: float) -> str:
        """scale * log10(max(amin, x)), floored at floor_db below each window's maximum (axes 1, 2)."""
        log = self.op("Log", self.op("Max", power, self.f32(amin)))
        db = self.op("Mul", log, self.f32(scale / math.log(10.0)))
        top = self.op("ReduceMax", db, self.ints(1, 2), keepdims=1)
        return self.op("Max", db, self.op("Sub", top, self.f32(floor_db)))


def _stft_power(g: _Graph, signal: str, n_fft: int, hop: int, window: np.ndarray, pad_mode: str) -> str:
    """|STFT|^2 of centred frames, (batch, frames, bins), from a (batch, 1, samples) signal."""
    half = n_fft // 2
    padded = g.op("Pad", signal, g.ints(0, 0, half, 0, 0, half), mode=pad_mode)
    bins = n_fft // 2 + 1
    k = np.arange(n_fft)[None, :]
    f = np.arange(bins)[:, None]
    basis = np.concatenate([np.cos(2 * np.pi * f * k / n_fft), -np.sin(2 * np.pi * f * k / n_fft)]) * window
    spectrum = g.op("Conv", padded, g.const(basis.astype(np.float32)[:, None, :]), strides=[hop])
    re, im = g.outputs("Split", [g.op("Mul", spectrum, spectrum)], 2, axis=1, num_outputs=2)
    return g.op("Transpose", g.op("Add", re, im), perm=[0, 2, 1])


def _frame_sums(g: _Graph, x: str, samples: int, length: int, hop: int) -> str:
    """Sums of x (batch, 1, samples) over frames of `length` every `hop`, (batch, frames, 1): block sums of
    gcd(hop, length) samples, then a short ones-kernel convolution over the blocks (a direct convolution would
    copy every frame out first)."""
    block = math.gcd(hop, length)
    if samples % block:
        raise ValueError(f"{samples} samples are not whole blocks of {block}")
    blocks = g.op("ReduceSum", g.op("Reshape", x, g.ints(0, samples // block, block)), g.ints(2), keepdims=0)
    kernel = g.const(np.ones((1, 1, length // block), np.float32))
    summed = g.op("Conv", g.op("Unsqueeze", blocks, g.ints(1)), kernel, strides=[hop // block])
    return g.op("Transpose", summed, perm=[0, 2, 1])


def _magnitude_f64(g: _Graph, signal: str, config: FeatureConfig, lo: int, hi: int) -> str:
    """|STFT| of bins lo..hi-1 computed in float64 (then rounded to float32), (batch, frames, hi - lo).

    The padded signal is cut into hop-long blocks; a frame is its first ceil(n_fft / hop) blocks, so its
    transform is the sum over j of block t + j times rows j * hop.. of the basis: one small GEMM, no framing copy.
    """
    n_fft, hop, half = config.n_fft, config.hop_length, config.n_fft // 2
    per_frame = -(-n_fft // hop)
    n_blocks = config.frames - 1 + per_frame
    tail = n_blocks * hop - (config.window_samples + 2 * half)
    padded = g.op("Pad", signal, g.ints(0, 0, half, 0, 0, half + tail), mode="constant")
    blocks = g.op("Cast", g.op("Reshape", padded, g.ints(0, n_blocks, hop)), to=onnx.TensorProto.DOUBLE)
    window = _matrices(config.sample_rate, n_fft, config.n_mels, config.n_mfcc).window
    k, f = np.arange(per_frame * hop)[:, None], np.arange(lo, hi)[None, :]
    basis = np.concatenate([np.cos(2 * np.pi * f * k / n_fft), -np.sin(2 * np.pi * f * k / n_fft)], axis=1)
    basis *= np.pad(window, (0, per_frame * hop - n_fft))[:, None]  # rows past the frame are zero
    width = 2 * (hi - lo)
    stacked = basis.reshape(per_frame, hop, width).transpose(1, 0, 2).reshape(hop, per_frame * width)
    products = g.op("MatMul", blocks, g.const(stacked))  # (batch, blocks, per_frame * width)
    parts = [g.op("Slice", products, g.ints(j, j * width), g.ints(j + config.frames, (j + 1) * width),
                  g.ints(1, 2)) for j in range(per_frame)]
    spectrum = parts[0]
    for part in parts[1:]:
        spectrum = g.op("Add", spectrum, part)
    re, im = g.outputs("Split", [g.op("Mul", spectrum, spectrum)], 2, axis=2, num_outputs=2)
    return g.op("Cast", g.op("Sqrt", g.op("Add", re, im)), to=onnx.TensorProto.FLOAT)


def _contrast(g: _Graph, magnitude: str, signal: str, config: FeatureConfig) -> str:
    """librosa's spectral contrast per frame, (batch, frames, bands + 1): dB of the band's top quantile
    mean minus dB of its bottom one, each floored 80 dB below the window's maximum.

    The lowest band (up to 200 Hz, where speech has least energy) is transformed again in float64: its valleys
    reach 80 dB below the peak, where float32 spectra part from librosa's float64 ones by several dB.
    """
    peaks, valleys = [], []
    for i, (lo, hi, count) in enumerate(_contrast_bands(config.sample_rate, config.n_fft, config.contrast_bands)):
        band = _magnitude_f64(g, signal, config, lo, hi) if i == 0 else g.slice(magnitude, lo, hi, 2)
        if count == 1:
            peaks.append(g.op("ReduceMax", band, g.ints(2), keepdims=1))
            valleys.append(g.op("ReduceMin", band, g.ints(2), keepdims=1))
            continue
        k = g.ints(count)
        top = g.outputs("TopK", [band, k], 2, axis=2, largest=1)[0]
        bottom = g.outputs("TopK", [band, k], 2, axis=2, largest=0)[0]
        peaks.append(g.op("ReduceMean", top, g.ints(2), keepdims=1))
        valleys.append(g.op("ReduceMean", bottom, g.ints(2), keepdims=1))
    peak = g.db(g.op("Concat", *peaks, axis=2), 80.0, 10.0, 1e-10)
    valley = g.db(g.op("Concat", *valleys, axis=2), 80.0, 10.0, 1e-10)
    return g.op("Sub", peak, valley)


def _zero_crossings(g: _Graph, signal: str, config: FeatureConfig) -> str:
    """librosa's zero-crossing rate: sign changes (|x| <= 1e-10 counts as positive) inside each frame of
    the edge-padded signal, over the frame length."""
    n_fft, half = config.n_fft, config.n_fft // 2
    padded = g.op("Pad", signal, g.ints(0, 0, half, 0, 0, half), mode="edge")
    negative = g.op("Cast", g.op("Less", padded, g.f32(-1e-10)), to=onnx.TensorProto.FLOAT)
    length = config.window_samples + 2 * half
    changes = g.op("Abs", g.op("Sub", g.slice(negative, 1, length, 2), g.slice(negative, 0, length - 1, 2)))
    # A frame counts changes start .. start + n_fft - 2: the n_fft from start, less the one at start + n_fft - 1.
    changes = g.op("Pad", changes, g.ints(0, 0, 0, 0, 0, 1), mode="constant")
    counts = _frame_sums(g, changes, length, n_fft, config.hop_length)
    last = g.op("Slice", changes, g.ints(n_fft - 1), g.ints(length), g.ints(2), g.ints(config.hop_length))
    counts = g.op("Sub", counts, g.op("Transpose", last, perm=[0, 2, 1]))
    return g.op("Mul", counts, g.f32(1.0 / n_fft))


def _delta_matrix(frames: int) -> np.ndarray:
    """librosa.feature.delta (width 9, order 1, mode "nearest") along frames as a (frames, frames) matrix."""
    return librosa.feature.delta(np.eye(frames, dtype=np.float64), axis=0, mode="nearest").astype(np.float32)


def _mfcc_nodes(g: _Graph, signal: str, config: FeatureConfig) -> list[str]:
    mats = _matrices(config.sample_rate, config.n_fft, config.n_mels, config.n_mfcc)
    power = _stft_power(g, signal, config.n_fft, config.hop_length, mats.window, "constant")
    mel_db = g.db(g.op("MatMul", power, g.const(mats.mel_t)), 80.0, 10.0, 1e-10)
    mfcc = g.op("MatMul", mel_db, g.const(mats.dct_t))
    parts = [mfcc]
    if config.deltas:
        parts.append(g.op("MatMul", g.const(_delta_matrix(config.frames)), mfcc))
    if config.rms:
        half = config.n_fft // 2
        padded = g.op("Pad", signal, g.ints(0, 0, half, 0, 0, half), mode="constant")
        energy = _frame_sums(g, g.op("Mul", padded, padded), config.window_samples + 2 * half, config.n_fft,
                             config.hop_length)
        parts.append(g.op("Sqrt", g.op("Mul", energy, g.f32(1.0 / config.n_fft))))
    if config.zcr:
        parts.append(_zero_crossings(g, signal, config))
    if config.contrast_bands:
        parts.append(_contrast(g, g.op("Sqrt", power), signal, config))
    return parts


def _whisper_nodes(g: _Graph, signal: str, config: FeatureConfig) -> list[str]:
    window, mel_t = _whisper_matrices(config.sample_rate, config.n_fft, config.n_mels)
    power = _stft_power(g, signal, config.n_fft, config.hop_length, window.astype(np.float64), "reflect")
    power = g.slice(power, 0, config.frames, 1)  # Whisper drops the last centred frame
    log_mel = g.db(g.op("MatMul", power, g.const(mel_t)), 8.0, 1.0, 1e-10)
    return [g.op("Mul", g.op("Add", log_mel, g.f32(4.0)), g.f32(0.25))]


def frontend_nodes(config: FeatureConfig, normalizer: Normalizer, waveform: str, features: str,
                   prefix: str = "frontend/") -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes from the input named `waveform` (batch, window_samples) to `features` (batch, frames,
    n_features): the front-end of `config`, then (x - mean) / std."""
    g = _Graph(prefix)
    signal = g.op("Unsqueeze", waveform, g.ints(1))
    parts = (_whisper_nodes if config.kind == "whisper_logmel" else _mfcc_nodes)(g, signal, config)
    raw = parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=2)
    centred = g.op("Sub", raw, g.const(normalizer.mean.astype(np.float32)))
    g.op("Div", centred, g.const(normalizer.std.astype(np.float32)), out=features)
    return g.nodes, g.inits


def frontend_model(config: FeatureConfig, normalizer: Normalizer, opset: int = 18) -> onnx.ModelProto:
    """The front-end alone as a model, input "waveform", output "features": for parity checks."""
    nodes, inits = frontend_nodes(config, normalizer, WAVEFORM_INPUT, FEATURES_INPUT)
    graph = helper.make_graph(
        nodes, "speechsense-frontend",
        [helper.make_tensor_value_info(WAVEFORM_INPUT, onnx.TensorProto.FLOAT, ["batch", config.window_samples])],
        [helper.make_tensor_value_info(FEATURES_INPUT, onnx.TensorProto.FLOAT,
                                       ["batch", config.frames, config.n_features])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model
