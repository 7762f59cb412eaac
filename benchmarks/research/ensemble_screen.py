"""Which models are worth averaging? Validation and test accuracy of every combination, on the `random` split.

Each model is a finished run folder (model.keras + its normalizer and feature config) or an exported
ONNX file (its metadata holds both); each is scored with its own features, and every subset's
probabilities are averaged. Choose on validation: the test column is only for reporting.
    python benchmarks/research/ensemble_screen.py runs/improved-contrast-x3/random/member{0,1,2} \\
        models/speechsense-hybrid.onnx
Needs the `train` extra and the feature cache that training filled (cache/).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from speechsense.features import FeatureConfig, Normalizer
from speechsense.labels import label_index
from speechsense.training.augment import Variant
from speechsense.training.corpora import default_data_root, load_manifest
from speechsense.training.featstore import FeatureStore
from speechsense.training.splits import make_split

REPO = Path(__file__).resolve().parents[2]


def model_and_features(source: Path):
    """(predict function, feature config, normalizer) of a run folder or an exported ONNX file."""
    if source.suffix == ".onnx":
        import onnxruntime as ort

        from speechsense.training.onnx_export import read_metadata, run_onnx

        meta = read_metadata(source)
        sess = ort.InferenceSession(str(source))
        return (lambda x: run_onnx(sess, x)), meta.feature_config, meta.normalizer
    from speechsense.training.hybrid.models import load_model
    from speechsense.training.loop import predict

    model = load_model(source / "model.keras")
    config = FeatureConfig.from_json((source / "feature_config.json").read_text())
    norm = Normalizer.from_json((source / "normalizer.json").read_text(), config.n_features)
    return (lambda x: predict(model, x)), config, norm


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", type=Path, nargs="+", help="run folders and/or .onnx files")
    p.add_argument("--data", type=Path, default=None, help="corpora (default ../shared/datasets)")
    p.add_argument("--cache", type=Path, default=REPO / "cache")
    args = p.parse_args()
    clips = load_manifest(args.data or default_data_root(), args.cache / "manifest.json").clips
    split = make_split(clips, "random", 0, 42)
    parts = {part: [clips[i] for i in getattr(split, part)] for part in ("val", "test")}
    probs: dict[str, dict[str, np.ndarray]] = {}
    for source in args.models:
        predict, config, norm = model_and_features(source)
        store = FeatureStore(args.cache / "features", config)
        probs[str(source)] = {part: predict(norm.apply(store.get([c.path for c in cl], Variant())))
                              for part, cl in parts.items()}
    for size in range(1, len(args.models) + 1):
        for combo in itertools.combinations(probs, size):
            row = []
            for part, cl in parts.items():
                y = np.array([label_index(c.label) for c in cl])
                rav = np.array([c.corpus == "ravdess" for c in cl])
                hit = sum(probs[name][part] for name in combo).argmax(1) == y
                row.append(f"{part} {hit.mean():.4f} (RAVDESS {hit[rav].mean():.3f})")
            print(" | ".join(row), "|", " + ".join(combo), flush=True)


if __name__ == "__main__":
    main()
