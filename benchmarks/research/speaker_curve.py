"""Is the speaker-independent figure limited by how many speakers we train on? A learning curve.

For each `speaker` fold, an RBF SVM on clip statistics of the cached per-frame features (as
feature_screen.py, but reading the training cache instead of recomputing) is trained on k of the
fold's 16 non-test RAVDESS actors (half male, half female, several random draws) plus TESS, as the
protocol does, and scored by UAR on the fold's 4 test actors. If UAR still climbs steadily with k
at 16, more speakers, not a better recipe, is what the 0.70 target needs.
    python benchmarks/research/speaker_curve.py [--preset improved-contrast] [--sizes 2,4,8,12,16] [--draws 3]
Needs the `train` extra and a feature cache that training filled for the preset (cache/).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from speechsense.labels import label_index
from speechsense.training.augment import Variant
from speechsense.training.corpora import default_data_root, load_manifest
from speechsense.training.featstore import FeatureStore
from speechsense.training.presets import get_preset
from speechsense.training.splits import SPEAKER_FOLDS, make_split

REPO = Path(__file__).resolve().parents[2]


def clip_statistics(frames: np.ndarray, rms_column: int) -> np.ndarray:
    """(clips, 4 * features): mean, std, 10th and 90th percentile over each clip's voiced frames."""
    out = []
    for f in frames:
        rms = f[:, rms_column]
        sel = f[rms > 0.02 * rms.max()] if (rms > 0.02 * rms.max()).sum() >= 5 else f
        out.append(np.concatenate([sel.mean(0), sel.std(0), np.percentile(sel, 10, 0), np.percentile(sel, 90, 0)]))
    return np.stack(out)


def draw_actors(actors: dict[str, str], k: int, rng: np.random.Generator) -> set[str]:
    """k actors, half of each gender (all of them when k is the whole pool)."""
    picked: set[str] = set()
    for gender in ("male", "female"):
        pool = sorted(a for a, g in actors.items() if g == gender)
        picked |= set(rng.choice(pool, min(k // 2, len(pool)), replace=False).tolist())
    return picked


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="improved-contrast", help="whose cached clean features to use")
    p.add_argument("--sizes", default="2,4,8,12,16", help="numbers of RAVDESS training actors")
    p.add_argument("--draws", type=int, default=3, help="random draws of actors per size (1 at the full 16)")
    p.add_argument("--without-tess", action="store_true", help="leave TESS out of training (the protocol keeps it)")
    p.add_argument("--cache", type=Path, default=REPO / "cache")
    args = p.parse_args()
    preset = get_preset(args.preset)
    clips = load_manifest(default_data_root(), args.cache / "manifest.json").clips
    store = FeatureStore(args.cache / "features", preset.features)
    rms_column = preset.features.column_names().index("rms")
    x = clip_statistics(store.get([c.path for c in clips], Variant()), rms_column)
    y = np.array([label_index(c.label) for c in clips])
    sizes = [int(s) for s in args.sizes.split(",")]
    print("| RAVDESS training actors | speaker UAR (mean over folds and draws) | std over folds |")
    print("| --- | --- | --- |")
    for k in sizes:
        per_fold = []
        for fold in range(SPEAKER_FOLDS):
            split = make_split(clips, "speaker", fold, preset.seed)
            pool = {clips[i].speaker: clips[i].gender for i in split.train + split.val if clips[i].corpus == "ravdess"}
            test = np.array(split.test)
            draws = 1 if k >= len(pool) else args.draws
            uars = []
            for d in range(draws):
                chosen = draw_actors(pool, k, np.random.default_rng(1000 * fold + d))
                train = np.array([i for i in split.train + split.val if clips[i].speaker in chosen
                                  or (clips[i].corpus != "ravdess" and not args.without_tess)])
                model = make_pipeline(StandardScaler(), SVC(C=10, gamma="scale")).fit(x[train], y[train])
                uars.append(balanced_accuracy_score(y[test], model.predict(x[test])))
            per_fold.append(float(np.mean(uars)))
        print(f"| {k} | {np.mean(per_fold):.3f} | {np.std(per_fold):.3f} |", flush=True)


if __name__ == "__main__":
    main()
