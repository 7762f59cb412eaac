"""Does per-window noise reduction help on noisy audio? Accuracy of a served model, measured.

Takes the test clips of the `random` protocol (never trained on), adds white noise at several
SNRs, and scores each clip through the serving path (prepare + features + standardise +
ONNX Runtime) with and without the server's noise reduction (noisereduce, stationary).
    python benchmarks/noise_eval.py --model models/speechsense-hybrid.onnx --json runs/<preset>/random/noise.json
With --json the rows are also saved there; speechsense-export puts them in the model card.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from speechsense.audio import load_file
from speechsense.features import window_features
from speechsense.labels import label_index
from speechsense.server.config import EngineOptions
from speechsense.server.engine import reduce_noise
from speechsense.server.model import EmotionModel
from speechsense.training.corpora import load_manifest
from speechsense.training.report import evaluate
from speechsense.training.splits import make_split

REPO = Path(__file__).resolve().parent.parent


def noisy(samples: np.ndarray, snr_db: float | None, rng: np.random.Generator) -> np.ndarray:
    if snr_db is None:
        return samples
    power = float(np.mean(samples.astype(np.float64) ** 2))
    return (samples + rng.standard_normal(samples.size) * np.sqrt(power / 10 ** (snr_db / 10))).astype(np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=REPO / "models" / "speechsense-hybrid.onnx")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    p.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0, 5.0])
    p.add_argument("--limit", type=int, default=400, help="test clips to use")
    p.add_argument("--json", type=Path, default=None, help="also write the rows here (read by the model card)")
    args = p.parse_args()
    model = EmotionModel(args.model, EngineOptions())
    meta = model.meta
    clips = load_manifest(args.data, REPO / "cache" / "manifest.json").clips
    test = [clips[i] for i in make_split(clips, "random").test][: args.limit]
    y = np.array([label_index(c.label) for c in test])
    audio = [load_file(c.path, meta.feature_config.sample_rate) for c in test]
    rows = []
    for snr in [None, *args.snr]:
        for nr in (False, True):
            rng = np.random.default_rng(0)
            feats = []
            for a in audio:
                x = noisy(a, snr, rng)
                if nr:
                    x = reduce_noise(x, meta.feature_config.sample_rate)
                feats.append(meta.normalizer.apply(window_features(x, meta.feature_config)))
            probs = np.concatenate([model.predict(np.stack(feats[i:i + 64])) for i in range(0, len(feats), 64)])
            m = evaluate(probs, y)
            rows.append({"snr_db": snr if snr is not None else "clean", "noise_reduction": nr,
                         "clips": len(test), "accuracy": round(m["accuracy"], 4), "uar": round(m["uar"], 4)})
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"model": str(args.model), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
