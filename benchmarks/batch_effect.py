"""How much a waveform model's scores depend on the batch a window shares, per-call against per-row int8.

    python benchmarks/batch_effect.py --model models/speechsense-encoder.onnx

Scores the `random` test clips and EmoDB (one prepared window each) at batch 32 and at batch 1, with the file as
it is and with export/rowquant.py's per-row activations, and prints accuracy, UAR (the argmax over the labels a
set has; the population head), the largest probability change between the batchings, the labels that changed,
and the time per window at batch 32.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from speechsense.export.rowquant import per_row
from speechsense.export.waveform import evaluation_sets, metadata_of, scores
from speechsense.training.corpora import default_data_root


def session(model: onnx.ModelProto, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def probabilities(s: ort.InferenceSession, windows: np.ndarray, batch: int) -> np.ndarray:
    out = []
    for i in range(0, len(windows), batch):
        feeds = {s.get_inputs()[0].name: windows[i:i + batch]}
        for extra in s.get_inputs()[1:]:  # a calibrated file: no baseline
            feeds[extra.name] = np.zeros((len(feeds[s.get_inputs()[0].name]), extra.shape[1]), np.float32)
        out.append(s.run(["probabilities"], feeds)[0])
    return np.concatenate(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=Path("models/speechsense-encoder.onnx"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-root", type=Path, default=None)
    args = p.parse_args()
    source = onnx.load(str(args.model))
    meta = metadata_of(source, str(args.model))
    if meta.model_input != "waveform":
        raise SystemExit(f"{args.model} takes features: re-export it with speechsense-export waveform")
    sets = evaluation_sets(args.data_root or default_data_root(), meta.feature_config, meta.labels)
    for name, model in (("per-call (as shipped)", source), ("per-row", per_row(source))):
        s = session(model, args.threads)
        for set_name, (windows, y) in sets.items():
            p32, p1 = probabilities(s, windows, 32), probabilities(s, windows, 1)
            row = {"quantisation": name, "set": set_name, **scores(p32, y, False),
                   "batch1_vs_32_max_abs_diff": round(float(np.abs(p1 - p32).max()), 4),
                   "batch1_vs_32_argmax_changes": int((p1.argmax(1) != p32.argmax(1)).sum())}
            print(json.dumps(row), flush=True)
        windows = sets["random_test"][0][:32]
        probabilities(s, windows, 32)
        t0 = time.perf_counter()
        probabilities(s, windows, 32)
        print(json.dumps({"quantisation": name, "ms_per_window_batch32": round(
            (time.perf_counter() - t0) / len(windows) * 1e3, 1)}), flush=True)


if __name__ == "__main__":
    main()
