"""Linear heads on cached encoder statistics of other depths and precisions, on the calibration protocol.

    python benchmarks/research/head_depth_screen.py NAME=STATS.npz:LAYERS ... [--json out.json]

Each STATS.npz holds `paths` and `stats` (clips, layers, 2 x dim): training/headstats.py's cache of a model file
(int8, 4 blocks: the bundled encoder); training/encstore.py's cache of the fp32 6-block statistics graph
(`EncoderStore(cache/encoders, "whisper-base", FeatureConfig.whisper()).get(paths, Variant())`), and the same
with its stats.onnx quantised by `onnxruntime.quantization.quantize_dynamic(..., op_types_to_quantize=["MatMul"])`
for int8 6 blocks. LAYERS keeps the first hidden states (5: 4 blocks, 7: 6 blocks). Prints, per set, the
speaker 5-fold and EmoDB UAR uncalibrated and with a profile (training/calibration_eval.py's protocol).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from speechsense.training.corpora import default_data_root, load_manifest, scan_emodb
from speechsense.training.linear.calibration_eval import SessionRule, evaluate

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    out = Path(argv[argv.index("--json") + 1]) if "--json" in argv else None
    specs = [a for a in argv if "=" in a]
    if not specs:
        print(__doc__)
        return 2
    root = default_data_root()
    clips = load_manifest(root, REPO / "cache" / "manifest.json").clips
    emodb = scan_emodb(root).clips
    results = {}
    for spec in specs:
        name, rest = spec.split("=", 1)
        path, layers = rest.rsplit(":", 1)
        with np.load(path) as d:
            table = dict(zip(d["paths"].tolist(), d["stats"], strict=True))
        x = np.stack([table[c.path] for c in clips + emodb])[:, : int(layers)]
        x = x.reshape(len(x), -1).astype(np.float64)
        t = evaluate(x[: len(clips)], clips, x[len(clips):], emodb, [SessionRule(40, 0.1)], 60)
        row = {"speaker_uncalibrated": t["speaker"]["uncalibrated"]["mean"],
               "speaker_uncalibrated_std": t["speaker"]["uncalibrated"]["std"],
               "speaker_profile": t["speaker"]["profile"]["mean"], "emodb_uncalibrated": t["emodb"]["uncalibrated"],
               "emodb_profile": t["emodb"]["profile"]}
        results[name] = row
        print(name, " ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    if out:
        out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
