"""What the waveform graph costs: its STFT as a Conv against ONNX Runtime's STFT operator, the Python front-end,
and the whole bundled hybrid with ORT's intra-op spinning on and off.

    python benchmarks/frontend_graph_speed.py

Per window at batch 32 on synthetic speech: wall time and this process's CPU time (user + system), so threads
that spin show up as CPU spent without wall time saved.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import librosa
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from speechsense.export.frontend_graph import _Graph, _stft_power
from speechsense.features import compute_features, prepare_window
from speechsense.frontend import limit_blas_threads
from speechsense.modelmeta import ModelMetadata
from speechsense.synthetic import speech_like


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn, windows: int, repeats: int) -> dict:
    fn()
    wall, cpu = time.perf_counter(), cpu_seconds()
    for _ in range(repeats):
        fn()
    n = windows * repeats
    wall_ms, cpu_ms = (time.perf_counter() - wall) / n * 1e3, (cpu_seconds() - cpu) / n * 1e3
    return {"wall_ms": round(wall_ms, 2), "cpu_ms": round(cpu_ms, 2)}


def session(model: bytes | str, threads: int, spinning: bool = False) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def stft_models(samples: int, n_fft: int, hop: int) -> dict[str, bytes]:
    """|STFT|^2 of centred zero-padded frames, (batch, frames, bins): the Conv basis and the STFT operator."""
    window = librosa.filters.get_window("hann", n_fft, fftbins=True)
    frames = samples // hop + 1

    def model(build) -> bytes:
        g = _Graph("s/")
        g.op("Identity", build(g), out="y")
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", samples])]
        outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", frames, n_fft // 2 + 1])]
        graph = helper.make_graph(g.nodes, "stft", inputs, outputs, g.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()

    def operator(g: _Graph) -> str:
        padded = g.op("Pad", g.op("Unsqueeze", "x", g.ints(2)), g.ints(0, n_fft // 2, 0, 0, n_fft // 2, 0))
        spectrum = g.op("STFT", padded, g.const(np.array(hop, np.int64)), g.const(window.astype(np.float32)),
                        g.const(np.array(n_fft, np.int64)), onesided=1)
        return g.op("ReduceSumSquare", spectrum, g.ints(-1), keepdims=0)

    conv = model(lambda g: _stft_power(g, g.op("Unsqueeze", "x", g.ints(1)), n_fft, hop, window, "constant"))
    return {"conv_dft_basis": conv, "stft_operator": model(operator)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=Path("models/speechsense-hybrid.onnx"), help="a waveform file")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=4)
    args = p.parse_args()
    limit_blas_threads()
    meta = ModelMetadata.from_props(dict(session(str(args.model), 1).get_modelmeta().custom_metadata_map))
    cfg = meta.feature_config
    windows = np.stack([prepare_window(speech_like(3.5, seed=i), cfg) for i in range(args.batch)])
    for name, model in stft_models(cfg.window_samples, cfg.n_fft, cfg.hop_length).items():
        s = session(model, 1)
        print(json.dumps({"stage": f"stft {name}", "threads": 1, **timed(lambda s=s: s.run(None, {"x": windows}),
                                                                          args.batch, args.repeats)}), flush=True)
    print(json.dumps({"stage": "python front-end (speechsense.features)", "threads": 1, **timed(
        lambda: compute_features(windows, cfg), args.batch, args.repeats)}), flush=True)
    if onnx.load(str(args.model)).graph.input[0].name != "waveform":
        raise SystemExit(f"{args.model} takes features: the whole-graph rows need a waveform file")
    for threads, spinning in ((1, False), (2, True), (2, False)):
        s = session(str(args.model), threads, spinning)
        row = timed(lambda s=s: s.run(None, {"waveform": windows}), args.batch, args.repeats)
        print(json.dumps({"stage": f"whole graph {args.model.name}", "threads": threads, "spinning": spinning, **row}),
              flush=True)


if __name__ == "__main__":
    main()
