"""Where a served model's `random` test errors are: by corpus, by RAVDESS intensity, and the top confusions.

Each test clip goes through the serving path (window features, standardisation, ONNX Runtime), as in
benchmarks/noise_eval.py. Tells what the 95% random-split target would need fixed.
    python benchmarks/research/random_errors.py [--model models/speechsense-hybrid.onnx] [--part test]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from speechsense.audio import load_file
from speechsense.features import window_features
from speechsense.labels import LABELS, label_index
from speechsense.server.config import EngineOptions
from speechsense.server.model import EmotionModel
from speechsense.training.corpora import load_manifest
from speechsense.training.splits import make_split

REPO = Path(__file__).resolve().parents[2]
INTENSITY = {"01": "normal", "02": "strong"}  # third field of a RAVDESS file name


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=REPO / "models" / "speechsense-hybrid.onnx")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    p.add_argument("--part", choices=("val", "test"), default="test")
    args = p.parse_args()
    model = EmotionModel(args.model, EngineOptions())
    meta = model.meta
    clips = load_manifest(args.data, REPO / "cache" / "manifest.json").clips
    part = [clips[i] for i in getattr(make_split(clips, "random"), args.part)]
    y = np.array([label_index(c.label) for c in part])
    x = np.stack([meta.normalizer.apply(window_features(load_file(c.path, meta.feature_config.sample_rate),
                                                        meta.feature_config)) for c in part])
    pred = np.concatenate([model.predict(x[i:i + 64]) for i in range(0, len(x), 64)]).argmax(1)
    right = pred == y
    print(f"{args.model.name}, {args.part}: {right.mean():.2%} of {len(part)} clips, {int((~right).sum())} errors")
    groups = {c.corpus for c in part}
    for corpus in sorted(groups):
        m = np.array([c.corpus == corpus for c in part])
        print(f"  {corpus}: {right[m].mean():.2%} of {m.sum()}")
    intensity = np.array([INTENSITY.get(Path(c.path).name.split("-")[3], "?") if c.corpus == "ravdess" else ""
                          for c in part])
    for level in INTENSITY.values():
        m = intensity == level
        print(f"  ravdess {level} intensity: {right[m].mean():.2%} of {m.sum()}")
    confusions = Counter(f"{LABELS[a]} -> {LABELS[b]}" for a, b in zip(y, pred, strict=True) if a != b)
    print("  top confusions (true -> predicted): " + ", ".join(f"{k} {n}" for k, n in confusions.most_common(8)))


if __name__ == "__main__":
    main()
