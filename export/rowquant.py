"""Dynamic int8 quantisation per row instead of per call, so a window's scores no longer depend on its batch.

ONNX Runtime's dynamic quantisation (DynamicQuantizeLinear before each MatMulInteger) takes one scale and zero
point over the whole input tensor of a call: every window of a batch shares them, and the server fills batches
from every open stream, so one caller's readings moved with the others' audio (the int8 encoder 1.1.0 changed
38 of 854 labels between batch 1 and batch 32). Here each row (one frame of one window: the matrix product's
last axis) gets its own uint8 scale and zero point, with the same asymmetric rule:

    scale = (max(x, 0) - min(x, 0)) / 255,  zp = clip(round(-min / scale)),  q = clip(round(x / scale) + zp)

MatMulInteger then runs with a zero point of 0 and the rows' zero points are taken out exactly in int32:
(q - zp) . (w - w_zp) = q . (w - w_zp) - zp * sum_k (w - w_zp).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    out: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            out.setdefault(name, []).append(node)
    return out


def _row_nodes(x: str, prefix: str, inits: list) -> tuple[list[onnx.NodeProto], str, str, str]:
    """Nodes quantising x per row: (nodes, uint8 q, float scale (.., 1), int32 zero point (.., 1))."""
    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.array(value), f"{prefix}/{name}"))
        return f"{prefix}/{name}"

    mk, p = helper.make_node, prefix
    axes, zero, top, tiny = const("axes", np.array([-1], np.int64)), const("zero", np.float32(0)), \
        const("top", np.float32(255)), const("tiny", np.float32(1e-30))
    nodes = [
        mk("ReduceMin", [x, axes], [f"{p}/min0"], keepdims=1), mk("Min", [f"{p}/min0", zero], [f"{p}/min"]),
        mk("ReduceMax", [x, axes], [f"{p}/max0"], keepdims=1), mk("Max", [f"{p}/max0", zero], [f"{p}/max"]),
        mk("Sub", [f"{p}/max", f"{p}/min"], [f"{p}/range"]), mk("Div", [f"{p}/range", top], [f"{p}/scale0"]),
        mk("Max", [f"{p}/scale0", tiny], [f"{p}/scale"]),  # an all-zero row: any scale, every q is zp = 0
        mk("Div", [f"{p}/min", f"{p}/scale"], [f"{p}/min_q"]), mk("Neg", [f"{p}/min_q"], [f"{p}/zp0"]),
        mk("Round", [f"{p}/zp0"], [f"{p}/zp1"]), mk("Clip", [f"{p}/zp1", zero, top], [f"{p}/zp"]),
        mk("Div", [x, f"{p}/scale"], [f"{p}/xs"]), mk("Round", [f"{p}/xs"], [f"{p}/xr"]),
        mk("Add", [f"{p}/xr", f"{p}/zp"], [f"{p}/xz"]), mk("Clip", [f"{p}/xz", zero, top], [f"{p}/xc"]),
        mk("Cast", [f"{p}/xc"], [f"{p}/q"], to=TensorProto.UINT8),
        mk("Cast", [f"{p}/zp"], [f"{p}/zp_i32"], to=TensorProto.INT32),
    ]
    return nodes, f"{p}/q", f"{p}/scale", f"{p}/zp_i32"


def _rewrite(node: onnx.NodeProto, users: dict, inits: dict, prefix: str,
             new_inits: list) -> tuple[list[onnx.NodeProto], str, list[onnx.NodeProto]]:
    """Per-row quantisation in place of one DynamicQuantizeLinear: (its nodes, the MatMulInteger's renamed raw
    output, the zero-point correction that must follow the MatMulInteger). Rewires the MatMulInteger and the
    scale's users in place."""
    q_name, scale_name, zp_name = node.output
    matmuls = users.get(q_name, [])
    if len(matmuls) != 1 or matmuls[0].op_type != "MatMulInteger" or matmuls[0].input[2] != zp_name:
        raise ValueError(f"{node.name}: expected exactly one MatMulInteger reading its output")
    quant, q, scale, zp = _row_nodes(node.input[0], prefix, new_inits)
    mmi = matmuls[0]
    weight = numpy_helper.to_array(inits[mmi.input[1]]).astype(np.int32)
    w_zp = numpy_helper.to_array(inits[mmi.input[3]]).astype(np.int32) if len(mmi.input) > 3 else 0
    new_inits.append(numpy_helper.from_array((weight - w_zp).sum(axis=0).astype(np.int32), f"{prefix}/colsum"))
    raw, result = f"{prefix}/mm", mmi.output[0]
    mmi.input[0], mmi.input[2], mmi.output[0] = q, "", raw
    for user in users.get(scale_name, []):
        user.input[list(user.input).index(scale_name)] = scale
    tail = [helper.make_node("Mul", [zp, f"{prefix}/colsum"], [f"{prefix}/correction"]),
            helper.make_node("Sub", [raw, f"{prefix}/correction"], [result])]
    return quant, raw, tail


def per_row(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of model with every DynamicQuantizeLinear feeding a MatMulInteger quantised per row."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {t.name: t for t in graph.initializer}
    users = _consumers(graph)
    nodes, new_inits, tails, count = [], [], {}, 0  # tails: the correction after each MatMulInteger, by its output
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            nodes += tails.pop(node.output[0], []) if node.output else []
            continue
        quant, raw, tail = _rewrite(node, users, inits, f"rowquant{count}", new_inits)
        nodes += quant
        tails[raw] = tail
        count += 1
    if tails:
        raise ValueError("a quantised MatMulInteger came before its DynamicQuantizeLinear")
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(new_inits)
    onnx.checker.check_model(out)
    return out
