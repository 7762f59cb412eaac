"""The study's four models (LSTM, LSTM + attention, CNN, CNN + attention-LSTM hybrid) in Keras.

Every model takes the standardised feature matrix as an input named "features" of shape
(frames, n_features) and ends in a linear Dense layer followed by a softmax named
"probabilities". The study's Dense(8, relu) output died in its first epoch (every unit, loss stuck at ln 8),
hence linear.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from speechsense.modelmeta import FEATURES_INPUT, PROBABILITIES_OUTPUT

N_CLASSES = 8


@keras.saving.register_keras_serializable(package="speechsense")
class AdditiveAttention(layers.Layer):
    """Bahdanau-style attention over time as in the study: e = tanh(h W + b_t), a = softmax_t(e), sum a h.

    The bias has one entry per timestep, shape (T, 1), so T is fixed by the graph.
    """

    def build(self, input_shape):
        steps, dim = int(input_shape[1]), int(input_shape[2])
        self.w = self.add_weight(name="w", shape=(dim, 1), initializer="glorot_uniform")
        self.b = self.add_weight(name="b", shape=(steps, 1), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        scores = ops.tanh(ops.matmul(inputs, self.w) + self.b)  # (batch, T, 1)
        weights = ops.softmax(scores, axis=1)
        return ops.sum(inputs * weights, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="speechsense")
class ColumnAdapter(layers.Layer):
    """Feeds an ensemble member trained on a subset of the ensemble's features: takes its columns and
    re-standardises them from the ensemble's statistics to the member's own, x * scale + shift."""

    def __init__(self, columns, scale, shift, **kwargs):
        super().__init__(**kwargs)
        if not len(columns) == len(scale) == len(shift):
            raise ValueError("columns, scale and shift must have one entry per member feature")
        self.columns = [int(c) for c in columns]
        self.scale = [float(v) for v in scale]
        self.shift = [float(v) for v in shift]

    def call(self, inputs):
        x = ops.take(inputs, self.columns, axis=-1)
        return x * ops.convert_to_tensor(self.scale, inputs.dtype) + ops.convert_to_tensor(self.shift, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.columns))

    def get_config(self):
        return {**super().get_config(), "columns": self.columns, "scale": self.scale, "shift": self.shift}


def _input(frames: int, n_features: int) -> keras.KerasTensor:
    return keras.Input(shape=(frames, n_features), name=FEATURES_INPUT)


def _head(x, n_classes: int):
    """Linear logits then a softmax named "probabilities" (the exported output)."""
    logits = layers.Dense(n_classes, name="logits")(x)
    return layers.Activation("softmax", name=PROBABILITIES_OUTPUT)(logits)


def _cnn_branch(x, dropout: float):
    # The study ran Conv2D (kernel 5) on a height-1 input (1, T, F): only one kernel row ever touches
    # real data, so it equals this Conv1D of kernel 5 with a fifth of the parameters and ~3x the speed.
    for i, filters in enumerate((256, 256, 128, 64)):
        x = layers.Conv1D(filters, 5, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = layers.MaxPooling1D(pool_size=5, strides=2, padding="same", name=f"pool{i + 1}")(x)
        x = layers.Dropout(dropout, name=f"conv_drop{i + 1}")(x)
    return layers.Flatten(name="flatten")(x)


def build_lstm(frames: int, n_features: int, dropout: float = 0.1, n_classes: int = N_CLASSES) -> keras.Model:
    """The study's LSTM: 2 x LSTM(64), then the output layer."""
    inp = _input(frames, n_features)
    x = layers.LSTM(64, return_sequences=True, name="lstm1")(inp)
    x = layers.Dropout(dropout)(x)
    x = layers.LSTM(64, name="lstm2")(x)
    x = layers.Dropout(dropout)(x)
    return keras.Model(inp, _head(x, n_classes), name="lstm")


def build_lstm_attention(frames: int, n_features: int, dropout: float = 0.1,
                         n_classes: int = N_CLASSES) -> keras.Model:
    """The study's LSTM(64) with additive attention over time."""
    inp = _input(frames, n_features)
    x = layers.LSTM(64, return_sequences=True, name="lstm")(inp)
    x = AdditiveAttention(name="attention")(x)
    x = layers.Dropout(dropout)(x)
    return keras.Model(inp, _head(x, n_classes), name="lstm_attention")


def build_cnn(frames: int, n_features: int, dropout: float = 0.1, n_classes: int = N_CLASSES) -> keras.Model:
    """The study's CNN: conv 256, 256, 128, 64 (kernel 5, max-pool 5 stride 2), dense 256, 64, 32."""
    inp = _input(frames, n_features)
    x = _cnn_branch(inp, dropout)
    for units in (256, 64, 32):
        x = layers.Dense(units, activation="relu", name=f"dense{units}")(x)
        x = layers.Dropout(dropout)(x)
    return keras.Model(inp, _head(x, n_classes), name="cnn")


def build_hybrid(frames: int, n_features: int, dropout: float = 0.1, n_classes: int = N_CLASSES) -> keras.Model:
    """The study's hybrid: CNN branch and attention-LSTM branch (each to dense 256), then 256, 128, 64."""
    inp = _input(frames, n_features)
    cnn = layers.Dense(256, activation="relu", name="cnn_dense")(_cnn_branch(inp, dropout))
    seq = layers.LSTM(64, return_sequences=True, name="lstm")(inp)
    att = layers.Dense(256, activation="relu", name="att_dense")(AdditiveAttention(name="attention")(seq))
    x = layers.Concatenate(name="concat")([layers.Dropout(dropout)(cnn), layers.Dropout(dropout)(att)])
    for units in (256, 128, 64):
        x = layers.Dense(units, activation="relu", name=f"dense{units}")(x)
        x = layers.Dropout(dropout)(x)
    return keras.Model(inp, _head(x, n_classes), name="hybrid")


BUILDERS = {"lstm": build_lstm, "lstm_attention": build_lstm_attention, "cnn": build_cnn, "hybrid": build_hybrid}


def build_model(name: str, frames: int, n_features: int, dropout: float = 0.1) -> keras.Model:
    """A model by name (one of BUILDERS)."""
    if name not in BUILDERS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(BUILDERS)}")
    return BUILDERS[name](frames, n_features, dropout)


def load_model(path) -> keras.Model:
    """A saved .keras model; importing this module registers our layers for deserialisation."""
    return keras.saving.load_model(path)
