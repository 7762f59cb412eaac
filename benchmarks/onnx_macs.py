"""Multiply-accumulates per window of any ONNX model, read from the shapes of one real run.

Static shape inference loses track of tf2onnx's Shape -> Gather -> Reshape chains, so instead every
input of a MatMul, Gemm, Conv or LSTM node is exposed as a graph output, the model runs once on
one window of zeros, and each node's MACs follow from the shapes it actually saw. Quantised
matmuls (int8) are counted apart from float ones. Also a command:
    python benchmarks/onnx_macs.py models/speechsense-hybrid.onnx
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

FLOAT_OPS = {"MatMul", "Gemm", "Conv", "LSTM", "FusedMatMul"}
INT8_OPS = {"MatMulInteger", "DynamicQuantizeMatMul", "QLinearMatMul", "MatMulIntegerToFloat"}


def _node_macs(op: str, shapes: list[tuple[int, ...]], attrs: dict) -> int:
    """MACs of one node from its input shapes (None where an input is absent)."""
    if op in ("MatMul", "FusedMatMul", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"):
        a, b = shapes[0], shapes[1]
        return _matmul_macs(a, b)
    if op == "QLinearMatMul":  # inputs: a, a_scale, a_zero, b, ...
        return _matmul_macs(shapes[0], shapes[3])
    if op == "Gemm":
        a, b = shapes[0], shapes[1]
        m, k = (a[1], a[0]) if attrs.get("transA") else (a[0], a[1])
        n = b[0] if attrs.get("transB") else b[1]
        return m * k * n
    if op == "Conv":
        x, w = shapes[0], shapes[1]  # (n, c, *spatial), (out, c / groups, *kernel)
        strides = attrs.get("strides", [1] * (len(x) - 2))
        out_spatial = [-(-s // st) for s, st in zip(x[2:], strides, strict=True)]  # an upper bound for 'valid'
        return x[0] * w[0] * int(np.prod(out_spatial)) * int(np.prod(w[1:]))
    if op == "LSTM":
        x, w, r = shapes[0], shapes[1], shapes[2]  # (seq, batch, in), (dirs, 4h, in), (dirs, 4h, h)
        return x[0] * x[1] * w[0] * w[1] * (w[2] + r[2])
    return 0


def _matmul_macs(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    if len(b) == 1:
        return int(np.prod(a))
    batch = np.broadcast_shapes(a[:-2], b[:-2]) if len(a) > 2 or len(b) > 2 else ()
    m = a[-2] if len(a) > 1 else 1
    return int(np.prod(batch)) * m * a[-1] * b[-1]


def count_macs(path: Path) -> dict:
    """{"float_macs", "int8_macs", "by_op"} per window (batch 1) of the model at path."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    graph = model.graph
    initializers = {t.name: tuple(t.dims) for t in graph.initializer}
    nodes = [n for n in graph.node if n.op_type in FLOAT_OPS | INT8_OPS]
    wanted = {name for n in nodes for name in n.input if name and name not in initializers}
    existing = {o.name for o in graph.output} | {i.name for i in graph.input}
    for name in sorted(wanted - existing):
        graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep the nodes as written
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    # One window of zeros for every input (a calibrated file's baseline inputs too).
    feeds = {i.name: np.zeros([1] + [d if isinstance(d, int) else 1 for d in i.shape[1:]], np.float32)
             for i in sess.get_inputs()}
    names = [o.name for o in sess.get_outputs()]
    seen = dict(zip(names, (v.shape for v in sess.run(names, feeds)), strict=True))
    seen |= {name: value.shape for name, value in feeds.items()}
    totals = {"float_macs": 0, "int8_macs": 0, "by_op": {}}
    for n in nodes:
        shapes = [initializers.get(i) or seen.get(i) if i else None for i in n.input]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        macs = _node_macs(n.op_type, shapes, attrs)
        totals["int8_macs" if n.op_type in INT8_OPS else "float_macs"] += macs
        totals["by_op"][n.op_type] = totals["by_op"].get(n.op_type, 0) + macs
    return totals


def gemm_rates(threads: int, m: int = 4096, k: int = 512, n: int = 2048, repeats: int = 5) -> dict:
    """Best-of GEMM rate of ONNX Runtime on this CPU at a transformer-like shape: float32 GFLOP/s, and
    int8 GOP/s of the same MatMul after dynamic quantisation (what `--quantize` makes of a model)."""
    import tempfile

    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    w = np.random.default_rng(0).standard_normal((k, n)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "w"], ["y"])], "gemm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
                              [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    a = np.random.default_rng(1).standard_normal((m, k)).astype(np.float32)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, str(fp32))
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        for key, path in (("fp32_gflops", fp32), ("int8_gops", int8)):
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            sess.run(None, {"a": a})
            best = float("inf")
            for _ in range(repeats):
                t = time.perf_counter()
                sess.run(None, {"a": a})
                best = min(best, time.perf_counter() - t)
            rates[key] = round(2 * m * k * n / best / 1e9, 1)
    rates["gemm_threads"] = threads
    return rates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, nargs="+")
    p.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads for the GEMM rate")
    args = p.parse_args()
    print(json.dumps(gemm_rates(args.threads)))
    for path in args.model:
        print(json.dumps({"model": str(path), **count_macs(path)}))


if __name__ == "__main__":
    main()
