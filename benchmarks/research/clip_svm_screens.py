"""Two cheap screens with the clip-statistics RBF SVM (as speaker_curve.py, on the training feature cache).

- `stacking`: would averaging a served model's probabilities with the SVM's lift the `random` figure?
  Validation and test accuracy for a few SVM weights. Only meaningful for a model that did not train on
  the validation clips (a `random` run, not a `random-full` refit).
- `cmn`: does removing each clip's mean MFCCs (cepstral mean normalisation) help new voices? Speaker
  UAR over the 5 folds and `random` accuracy, with and without.
    python benchmarks/research/clip_svm_screens.py stacking --model <onnx of a random run>
    python benchmarks/research/clip_svm_screens.py cmn
Needs the `train` extra and a feature cache filled for `improved-contrast` (cache/).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from speaker_curve import clip_statistics

from speechsense.labels import label_index
from speechsense.server.config import EngineOptions
from speechsense.server.model import EmotionModel
from speechsense.training.augment import Variant
from speechsense.training.corpora import default_data_root, load_manifest
from speechsense.training.featstore import FeatureStore
from speechsense.training.presets import get_preset
from speechsense.training.splits import SPEAKER_FOLDS, make_split

REPO = Path(__file__).resolve().parents[2]


def svm(c: float = 10.0, probability: bool = False):
    return make_pipeline(StandardScaler(), SVC(C=c, gamma="scale", probability=probability, random_state=0))


def stacking(model_path: Path, frames: np.ndarray, x: np.ndarray, y: np.ndarray, clips: list) -> None:
    """Accuracy of the model, the SVM, and their weighted mean on validation and test."""
    model = EmotionModel(model_path, EngineOptions())
    split = make_split(clips, "random")
    tr, parts = np.array(split.train), {"val": np.array(split.val), "test": np.array(split.test)}
    s = svm(probability=True).fit(x[tr], y[tr])
    for name, idx in parts.items():
        feats = np.stack([model.meta.normalizer.apply(frames[i]) for i in idx])
        net = np.concatenate([model.predict(feats[j:j + 64]) for j in range(0, len(idx), 64)])
        sv = s.predict_proba(x[idx])
        cells = [f"w={w:.1f} {np.mean(((1 - w) * net + w * sv).argmax(1) == y[idx]):.2%}" for w in (0, 0.3, 0.5, 1)]
        print(f"{name}: " + ", ".join(cells) + "  (w: the SVM's weight; 0 = the model alone)", flush=True)


def cmn(frames: np.ndarray, x: np.ndarray, y: np.ndarray, clips: list, columns: list[str], rms: int) -> None:
    """Speaker UAR and random accuracy of the SVM on clip statistics, with and without per-clip MFCC means."""
    mfcc = [i for i, c in enumerate(columns) if c.startswith("mfcc")]
    centred = frames.copy()
    for f in centred:
        r = f[:, rms]
        voiced = f[r > 0.02 * r.max()] if (r > 0.02 * r.max()).sum() >= 5 else f  # as clip_statistics
        f[:, mfcc] -= voiced[:, mfcc].mean(0)
    for name, feats in (("as is", x), ("MFCC means removed", clip_statistics(centred, rms))):
        uars = []
        for fold in range(SPEAKER_FOLDS):
            split = make_split(clips, "speaker", fold)
            tr, te = np.array(split.train + split.val), np.array(split.test)
            uars.append(balanced_accuracy_score(y[te], svm().fit(feats[tr], y[tr]).predict(feats[te])))
        split = make_split(clips, "random")
        acc = svm().fit(feats[np.array(split.train)], y[np.array(split.train)]).score(
            feats[np.array(split.test)], y[np.array(split.test)])
        print(f"{name}: speaker UAR {np.mean(uars):.3f} +- {np.std(uars):.3f} "
              f"({' '.join(f'{u:.3f}' for u in uars)}), random test accuracy {acc:.2%}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("screen", choices=("stacking", "cmn"))
    p.add_argument("--model", type=Path, default=None, help="stacking: ONNX model of a `random` run")
    p.add_argument("--cache", type=Path, default=REPO / "cache")
    args = p.parse_args()
    if args.screen == "stacking" and args.model is None:
        p.error("stacking needs --model")
    preset = get_preset("improved-contrast")
    columns = preset.features.column_names()
    clips = load_manifest(default_data_root(), args.cache / "manifest.json").clips
    frames = FeatureStore(args.cache / "features", preset.features).get([c.path for c in clips], Variant())
    x = clip_statistics(frames, columns.index("rms"))
    y = np.array([label_index(c.label) for c in clips])
    if args.screen == "stacking":
        stacking(args.model, frames, x, y, clips)
    else:
        cmn(frames, x, y, clips, columns, columns.index("rms"))


if __name__ == "__main__":
    main()
