"""Per-row dynamic quantisation (export/rowquant.py): a row's result no longer depends on the rows beside it."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from speechsense.export.rowquant import per_row

RNG = np.random.default_rng(11)
W = RNG.standard_normal((64, 32)).astype(np.float32)


@pytest.fixture(scope="module")
def quantised(tmp_path_factory) -> onnx.ModelProto:
    """ONNX Runtime's own dynamic int8 quantisation of x @ W (DynamicQuantizeLinear + MatMulInteger)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder = tmp_path_factory.mktemp("rowquant")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "mm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 32])],
                              [numpy_helper.from_array(W, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, str(folder / "fp32.onnx"))
    quantize_dynamic(str(folder / "fp32.onnx"), str(folder / "int8.onnx"), weight_type=QuantType.QInt8)
    return onnx.load(str(folder / "int8.onnx"))


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_per_call_quantisation_mixes_rows_and_per_row_does_not(quantised):
    rows = RNG.standard_normal((4, 64)).astype(np.float32)
    loud = np.vstack([rows, 50 * RNG.standard_normal((1, 64)).astype(np.float32)])
    assert not np.allclose(run(quantised, loud)[:4], run(quantised, rows), atol=1e-3), "the batch effect is gone?"
    fixed = per_row(quantised)
    np.testing.assert_array_equal(run(fixed, loud)[:4], run(fixed, rows))
    np.testing.assert_array_equal(run(fixed, rows[2:3])[0], run(fixed, rows)[2])


def test_per_row_quantisation_is_the_asymmetric_uint8_rule_row_by_row(quantised):
    x = np.vstack([RNG.standard_normal((3, 64)), np.abs(RNG.standard_normal((1, 64))), np.zeros((1, 64))])
    x = x.astype(np.float32)
    weights = {t.name: numpy_helper.to_array(t) for t in quantised.graph.initializer}
    w_q = next(v for v in weights.values() if v.dtype == np.int8 and v.ndim == 2).astype(np.int64)
    w_scale = next(v for k, v in weights.items() if k.endswith("scale") and v.dtype == np.float32)
    expected = []
    for row in x:
        lo, hi = min(row.min(), 0.0), max(row.max(), 0.0)
        scale = np.float32(max((hi - lo) / 255, 1e-30))
        zp = np.clip(np.round(-lo / scale), 0, 255)
        q = np.clip(np.round(row / scale) + zp, 0, 255).astype(np.int64)
        expected.append(((q - zp) @ w_q) * (scale * w_scale))
    np.testing.assert_allclose(run(per_row(quantised), x), np.array(expected), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(run(per_row(quantised), x), x @ W, atol=0.05 * np.abs(x @ W).max())
