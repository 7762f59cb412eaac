"""Keras to ONNX (tf2onnx, opset 18) on a named, batch-dynamic signature.

Training needs it for the encoder statistics cache (encstore) and export for the shipped models,
so it lives here, below export: export imports training, never the other way round.
"""

from __future__ import annotations

import onnx

from speechsense.modelmeta import FEATURES_INPUT as INPUT_NAME
from speechsense.modelmeta import PROBABILITIES_OUTPUT as OUTPUT_NAME

__all__ = ["INPUT_NAME", "OPSET", "OUTPUT_NAME", "keras_to_onnx"]
OPSET = 18


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename a tensor everywhere in the graph."""
    if old == new:
        return
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new


def keras_to_onnx(model, frames: int, n_features: int, output: str = OUTPUT_NAME) -> onnx.ModelProto:
    """Convert with tf2onnx.from_function on a named, batch-dynamic signature; LSTM stays a native op."""
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, frames, n_features), tf.float32, name=INPUT_NAME),)

    @tf.function(input_signature=spec)
    def serve(features):
        return model(features, training=False)

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=OPSET)
    _rename(proto.graph, proto.graph.input[0].name, INPUT_NAME)
    _rename(proto.graph, proto.graph.output[0].name, output)
    proto.doc_string = "SpeechSense speech emotion model: standardised features -> class probabilities"
    return proto
