"""Linear probe on cached Whisper-base layer statistics (logistic regression), speaker folds 0-4.

    python benchmarks/research/encoder_probe.py
Trains on each fold's train + validation clips (a probe needs no early stopping), with and without TESS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from speechsense.features import FeatureConfig
from speechsense.labels import label_index
from speechsense.training.augment import Variant
from speechsense.training.corpora import default_data_root, load_manifest
from speechsense.training.encoder.encstore import EncoderStore
from speechsense.training.splits import make_split


def uar(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def probe(name: str, clips, x: np.ndarray, y: np.ndarray, tess: bool = True, c: float = 1.0) -> None:
    res = []
    for fold in range(5):
        sp = make_split(clips, "speaker", fold)
        train = [i for i in sp.train + sp.val if tess or clips[i].corpus != "tess"]
        scaler = StandardScaler().fit(x[train])
        model = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(x[train]), y[train])
        test = list(sp.test)
        res.append(uar(model.predict(scaler.transform(x[test])), y[test]))
    print(f"{name} {'with' if tess else 'without'} TESS, C {c}: UAR {np.mean(res):.3f} "
          f"({', '.join(f'{r:.3f}' for r in res)})", flush=True)


def main() -> None:
    clips = load_manifest(default_data_root(), Path("cache/manifest.json")).clips
    store = EncoderStore(Path("cache/encoders"), "whisper-base", FeatureConfig.whisper())
    x = store.get([c.path for c in clips], Variant())
    y = np.array([label_index(c.label) for c in clips])
    dim = x.shape[2] // 2
    for layer in (2, 3, 4):
        probe(f"mean of state {layer}", clips, x[:, layer, :dim], y)
        probe(f"mean of state {layer}", clips, x[:, layer, :dim], y, tess=False)
    probe("mean + std of state 3", clips, x[:, 3], y)
    probe("mean of all states", clips, x[:, :, :dim].reshape(len(x), -1), y, c=0.1)
    probe("mean + std of all states", clips, x.reshape(len(x), -1), y, c=0.1)
    probe("mean + std of all states", clips, x.reshape(len(x), -1), y, tess=False, c=0.1)


if __name__ == "__main__":
    main()
