"""The encoder family's graph: frozen Whisper encoder -> per-layer mean + std over time -> a trained head.

Pooling each hidden state on its own (rather than pooling a weighted sum) lets the encoder's
work be cached per clip as a small (layers, 2 x dim) table, so a head trains in minutes; the
head then learns which layers matter (softmax weights over them), standardises, and classifies.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from speechsense.modelmeta import FEATURES_INPUT, PROBABILITIES_OUTPUT

STATS_NAME = "layer_stats"


def stats_model(encoder):
    """Keras model: log-mel (batch, frames, mels) -> (batch, layers, 2 x dim), each hidden state's mean and
    standard deviation over time."""
    import keras
    from keras import ops

    inp = keras.Input(encoder.input_shape[1:], name="logmel")
    states = encoder(inp)
    pooled = [ops.concatenate([ops.mean(s, axis=1), ops.std(s, axis=1)], axis=-1) for s in states]
    return keras.Model(inp, ops.stack(pooled, axis=1), name=STATS_NAME)


@lru_cache(maxsize=1)
def head_layers():
    """The head's layer classes, registered with Keras once (loading head.keras needs them)."""
    import keras

    from speechsense.training.encoder.whisper import erf_gelu

    erf_gelu()  # the hidden layer's activation must be registered before a saved head loads
    from keras import ops

    @keras.saving.register_keras_serializable("speechsense")
    class LayerMix(keras.layers.Layer):
        """A learned softmax-weighted sum over the layer axis (batch, layers, d) -> (batch, d)."""

        def build(self, input_shape):
            self.logits = self.add_weight(shape=(input_shape[1],), initializer="zeros", name="logits")

        def call(self, x):
            w = ops.softmax(self.logits)
            return ops.sum(x * w[None, :, None], axis=1)

    @keras.saving.register_keras_serializable("speechsense")
    class Standardise(keras.layers.Layer):
        """(x - mean) / std with the training clips' statistics kept as frozen weights (saved, exported)."""

        def build(self, input_shape):
            self.mean = self.add_weight(shape=tuple(input_shape[1:]), initializer="zeros", trainable=False,
                                        name="mean")
            self.std = self.add_weight(shape=tuple(input_shape[1:]), initializer="ones", trainable=False,
                                       name="std")

        def call(self, x):
            return (x - self.mean) / self.std

    @keras.saving.register_keras_serializable("speechsense")
    class LayerScale(keras.layers.Layer):
        """Scales each layer's statistics by its learned softmax weight (times the layer count, so 1 at start)
        and concatenates them (batch, layers, d) -> (batch, layers x d): layer weights without summing away
        what differs between layers."""

        def build(self, input_shape):
            self.logits = self.add_weight(shape=(input_shape[1],), initializer="zeros", name="logits")

        def call(self, x):
            w = ops.softmax(self.logits) * ops.cast(ops.shape(x)[1], x.dtype)
            return ops.reshape(x * w[None, :, None], (-1, x.shape[1] * x.shape[2]))

    @keras.saving.register_keras_serializable("speechsense")
    class PickLayers(keras.layers.Layer):
        """Keeps the listed entries of the layer axis."""

        def __init__(self, indices: tuple[int, ...], **kwargs):
            super().__init__(**kwargs)
            self.indices = tuple(int(i) for i in indices)

        def call(self, x):
            return ops.take(x, np.asarray(self.indices, np.int32), axis=1)

        def get_config(self):
            return super().get_config() | {"indices": list(self.indices)}

    return LayerMix, LayerScale, PickLayers, Standardise


def build_head(n_layers: int, width: int, mean: np.ndarray, std: np.ndarray, hidden: int = 256,
               dropout: float = 0.3, n_classes: int = 8, layers: tuple[int, ...] | None = None,
               mix: str = "weighted"):
    """Head on cached layer statistics (batch, n_layers, width): fixed standardisation (per layer and unit, from
    the training clips), learned softmax weights over the chosen `layers` (default all) that either sum the
    layers ("weighted") or scale and concatenate them ("concat"), a GELU MLP, softmax."""
    import keras

    layer_mix, layer_scale, pick_layers, standardise = head_layers()
    if mix not in ("weighted", "concat"):
        raise ValueError(f"mix must be 'weighted' or 'concat', got {mix!r}")
    inp = keras.Input((n_layers, width), name="layer_stats")
    norm = standardise(name="standardise")
    x = norm(inp)
    norm.set_weights([np.asarray(mean, np.float32), np.asarray(std, np.float32)])
    if layers is not None and tuple(layers) != tuple(range(n_layers)):
        x = pick_layers(tuple(layers), name="pick_layers")(x)
    x = (layer_mix if mix == "weighted" else layer_scale)(name="layer_mix")(x)
    x = keras.layers.Dropout(dropout, name="drop_in")(x)
    from speechsense.training.encoder.whisper import erf_gelu  # ONNX has no Erfc, which Keras' own GELU uses

    x = keras.layers.Dense(hidden, activation=erf_gelu(), name="hidden")(x)
    x = keras.layers.Dropout(dropout, name="drop_hidden")(x)
    out = keras.layers.Dense(n_classes, activation="softmax", name=PROBABILITIES_OUTPUT)(x)
    return keras.Model(inp, out, name="head")


def layer_weights(head) -> np.ndarray:
    """The head's softmax weights over the layers it reads, for the report."""
    logits = np.asarray(head.get_layer("layer_mix").logits)
    e = np.exp(logits - logits.max())
    return e / e.sum()


def full_model(stats, head, frames: int, n_mels: int):
    """One graph for export: log-mel features -> encoder statistics -> head probabilities."""
    import keras

    inp = keras.Input((frames, n_mels), name=FEATURES_INPUT)
    return keras.Model(inp, head(stats(inp)), name="encoder_emotion")
