"""An encoder model with linear heads and a speaker-baseline input, built from an exported encoder file.

The frozen encoder and its statistics are kept exactly as the source file computes them (int8 included);
everything after the statistics is replaced by:

    z = (flatten(stats) - mean) / std          -> output "head_input" (batch, n)
    r = z - baseline                           (input "baseline" (batch, n); zeros: no calibration)
    probabilities = softmax(r @ W_c + b_c)     where input "profile_head" (batch, 1) is 1
                    softmax(r @ W_u + b_u)     where it is 0

W_u is the population head (no calibration, or a session's shrunk baseline); W_c the profile head, trained
on each speaker's statistics relative to their enrolment. Old single-input files keep working in the server.
A gated mixture (training/linear/heads.py gated) adds a room expert's heads and a detector on z:

    p = sigmoid(z @ w_gate + b_gate)           (batch, 1)
    logits = (1 - p) x the heads above + p x the room expert's, both reading r and the same profile_head
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from speechsense.modelmeta import (
    BASELINE_INPUT,
    HEAD_INPUT_KEY,
    HEAD_INPUT_OUTPUT,
    PROFILE_HEAD_INPUT,
    ModelMetadata,
)
from speechsense.modelmeta import PROBABILITIES_OUTPUT as PROBABILITIES
from speechsense.training.linear.heads import RoomGate
from speechsense.training.linear.headstats import find_head_input, prune_to


@dataclass(frozen=True)
class LinearHeads:
    """Standardisation and the two linear heads, as trained (float32 arrays)."""

    mean: np.ndarray  # (n,)
    std: np.ndarray  # (n,)
    w_uncalibrated: np.ndarray  # (n, labels)
    b_uncalibrated: np.ndarray  # (labels,)
    w_calibrated: np.ndarray
    b_calibrated: np.ndarray
    # A gated mixture's room expert (same standardisation) and detector; None for plain linear heads.
    gate: RoomGate | None = None

    @property
    def size(self) -> int:
        return int(self.mean.size)


def _const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def _head_nodes(stats: str, heads: LinearHeads) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    f32 = np.float32
    inits = [
        _const("calib/flat_shape", np.array([-1, heads.size], np.int64)),
        _const("calib/mean", heads.mean.astype(f32)), _const("calib/inv_std", (1.0 / heads.std).astype(f32)),
        _const("calib/w_u", heads.w_uncalibrated.astype(f32)), _const("calib/b_u", heads.b_uncalibrated.astype(f32)),
        _const("calib/w_c", heads.w_calibrated.astype(f32)), _const("calib/b_c", heads.b_calibrated.astype(f32)),
        _const("calib/half", np.array(0.5, f32)),
    ]
    mk = helper.make_node
    nodes = [
        mk("Reshape", [stats, "calib/flat_shape"], ["calib/flat"]),
        mk("Sub", ["calib/flat", "calib/mean"], ["calib/centred"]),
        mk("Mul", ["calib/centred", "calib/inv_std"], [HEAD_INPUT_OUTPUT]),
        mk("Sub", [HEAD_INPUT_OUTPUT, BASELINE_INPUT], ["calib/relative"]),
        mk("MatMul", ["calib/relative", "calib/w_u"], ["calib/mm_u"]),
        mk("Add", ["calib/mm_u", "calib/b_u"], ["calib/logits_u"]),
        mk("MatMul", ["calib/relative", "calib/w_c"], ["calib/mm_c"]),
        mk("Add", ["calib/mm_c", "calib/b_c"], ["calib/logits_c"]),
        mk("Greater", [PROFILE_HEAD_INPUT, "calib/half"], ["calib/use_profile"]),
        mk("Where", ["calib/use_profile", "calib/logits_c", "calib/logits_u"], ["calib/logits"]),
    ]
    logits = "calib/logits"
    if heads.gate is not None:
        gate_nodes, gate_inits = _gate_nodes(heads.gate, logits)
        nodes, inits, logits = nodes + gate_nodes, inits + gate_inits, "calib/mixed"
    nodes.append(mk("Softmax", [logits], [PROBABILITIES], axis=-1))
    return nodes, inits


def _gate_nodes(gate: RoomGate, clean: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The room expert's logits, the detector's p and the mixture clean + p x (room - clean) -> calib/mixed."""
    f32 = np.float32
    inits = [
        _const("calib/gate_w_u", gate.w_u.astype(f32)), _const("calib/gate_b_u", gate.b_u.astype(f32)),
        _const("calib/gate_w_c", gate.w_c.astype(f32)), _const("calib/gate_b_c", gate.b_c.astype(f32)),
        _const("calib/gate_w", gate.w.astype(f32).reshape(-1, 1)), _const("calib/gate_b", np.array([gate.b], f32)),
    ]
    mk = helper.make_node
    nodes = [
        mk("MatMul", ["calib/relative", "calib/gate_w_u"], ["calib/room_mm_u"]),
        mk("Add", ["calib/room_mm_u", "calib/gate_b_u"], ["calib/room_u"]),
        mk("MatMul", ["calib/relative", "calib/gate_w_c"], ["calib/room_mm_c"]),
        mk("Add", ["calib/room_mm_c", "calib/gate_b_c"], ["calib/room_c"]),
        mk("Where", ["calib/use_profile", "calib/room_c", "calib/room_u"], ["calib/room"]),
        mk("MatMul", [HEAD_INPUT_OUTPUT, "calib/gate_w"], ["calib/gate_mm"]),
        mk("Add", ["calib/gate_mm", "calib/gate_b"], ["calib/gate_logit"]),
        mk("Sigmoid", ["calib/gate_logit"], ["calib/room_p"]),
        mk("Sub", ["calib/room", clean], ["calib/room_minus_clean"]),
        mk("Mul", ["calib/room_p", "calib/room_minus_clean"], ["calib/room_share"]),
        mk("Add", [clean, "calib/room_share"], ["calib/mixed"]),
    ]
    return nodes, inits


def build_calibrated(source: onnx.ModelProto, heads: LinearHeads, metadata: ModelMetadata) -> onnx.ModelProto:
    """The source encoder graph up to its statistics, then the linear heads; metadata replaced."""
    model = onnx.ModelProto()
    model.CopyFrom(source)
    graph = model.graph
    stats = find_head_input(model)
    prune_to(graph, stats)
    nodes, inits = _head_nodes(stats, heads)
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    del graph.input[1:]  # a calibrated source's own baseline inputs: replaced below
    batch = graph.input[0].type.tensor_type.shape.dim[0].dim_param or "batch"
    graph.input.append(helper.make_tensor_value_info(BASELINE_INPUT, TensorProto.FLOAT, [batch, heads.size]))
    graph.input.append(helper.make_tensor_value_info(PROFILE_HEAD_INPUT, TensorProto.FLOAT, [batch, 1]))
    del graph.output[:]
    n_labels = heads.b_uncalibrated.size
    graph.output.extend([
        helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, [batch, n_labels]),
        helper.make_tensor_value_info(HEAD_INPUT_OUTPUT, TensorProto.FLOAT, [batch, heads.size]),
    ])
    del graph.value_info[:]
    del model.metadata_props[:]
    props = metadata.to_props() | {HEAD_INPUT_KEY: stats}
    for key, value in props.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model)
    return model
