"""Screen per-frame feature sets cheaply before spending hours training the hybrid on them.

Each clip's clean window goes through the real window preprocessing; each feature set's frames
are summarised per clip (mean, std, 10th and 90th percentile over voiced frames) and an RBF SVM
is scored on the `random` split and on the 5 `speaker` folds, as in the SVM floors of reports/references.json.
Also reports per-speaker standardisation (statistics of each speaker's own clips, unlabelled),
an upper bound for what speaker adaptation could give.

    python benchmarks/research/feature_screen.py [--sets base,delta,chroma,f0,logmel64] [--limit N]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import librosa
import numpy as np
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from speechsense.audio import load_file
from speechsense.features import FeatureConfig, compute_features, prepare_window
from speechsense.labels import label_index
from speechsense.training.corpora import default_data_root, load_manifest
from speechsense.training.splits import SPEAKER_FOLDS, make_split

REPO = Path(__file__).resolve().parents[2]
BASE = FeatureConfig(n_mfcc=40, n_mels=40)


def frame_sets(path: str) -> dict[str, np.ndarray]:
    """Per-frame matrices (frames, k) of every candidate feature group for one clip."""
    cfg = BASE
    y = prepare_window(load_file(path, cfg.sample_rate), cfg)
    kw = {"n_fft": cfg.n_fft, "hop_length": cfg.hop_length}
    base = compute_features(y, cfg)
    mfcc = base[:, :cfg.n_mfcc].T
    power = np.abs(librosa.stft(y, **kw)) ** 2
    f0 = librosa.yin(y, fmin=60, fmax=500, sr=cfg.sample_rate, frame_length=1024, hop_length=cfg.hop_length)
    f0 = f0[: base.shape[0]]
    voiced = (base[:, -2] > 0.02 * base[:, -2].max()).astype(np.float32)  # rms gate
    logf0 = np.log(np.maximum(f0, 1.0)) * voiced
    return {
        "base": base,
        "delta": librosa.feature.delta(mfcc, mode="nearest").T,
        "chroma": librosa.feature.chroma_stft(S=power, sr=cfg.sample_rate, n_chroma=12).T,
        "f0": np.stack([logf0, voiced], axis=1),
        "contrast": librosa.feature.spectral_contrast(S=np.sqrt(power), sr=cfg.sample_rate, n_bands=5).T,
        "logmel64": librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=cfg.sample_rate,
                                                                       n_mels=64)).T,
        "voiced": voiced,
    }


def summarise(frames: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Clip-level statistics of a (frames, k) matrix over its voiced frames."""
    sel = frames[voiced > 0] if voiced.sum() >= 5 else frames
    return np.concatenate([sel.mean(0), sel.std(0), np.percentile(sel, 10, 0), np.percentile(sel, 90, 0)])


def clip_vectors(path: str) -> dict[str, np.ndarray]:
    sets = frame_sets(path)
    voiced = sets.pop("voiced")
    return {k: summarise(v, voiced) for k, v in sets.items()}


def svm_scores(x: np.ndarray, y: np.ndarray, clips, speakers: np.ndarray, per_speaker: bool) -> dict:
    """Test accuracy/UAR on `random` and mean UAR over the speaker folds."""
    if per_speaker:
        x = x.copy()
        for s in np.unique(speakers):
            m = speakers == s
            x[m] = (x[m] - x[m].mean(0)) / (x[m].std(0) + 1e-6)
    out = {}
    for protocol, folds in (("random", [0]), ("speaker", range(SPEAKER_FOLDS))):
        uars, accs = [], []
        for fold in folds:
            split = make_split(clips, protocol, fold)
            train = np.array(split.train + split.val)
            test = np.array(split.test)
            model = make_pipeline(StandardScaler(), SVC(C=10, gamma="scale")).fit(x[train], y[train])
            pred = model.predict(x[test])
            accs.append(float(np.mean(pred == y[test])))
            uars.append(float(balanced_accuracy_score(y[test], pred)))
        out[protocol] = (float(np.mean(accs)), float(np.mean(uars)), float(np.std(uars)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="base,base+delta,base+chroma,base+f0,base+contrast,"
                                          "base+f0+chroma,base+f0+contrast,logmel64+f0")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    manifest = load_manifest(default_data_root(), REPO / "cache" / "manifest.json")
    clips = manifest.clips
    t0 = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        vecs = list(pool.map(clip_vectors, [c.path for c in clips], chunksize=32))
    print(f"{len(clips)} clips summarised in {time.time() - t0:.0f} s")
    y = np.array([label_index(c.label) for c in clips])
    speakers = np.array([c.speaker for c in clips])
    print("| features | dims | random acc | random UAR | speaker UAR | speaker UAR, per-speaker z |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.sets.split(","):
        x = np.stack([np.concatenate([v[g] for g in name.split("+")]) for v in vecs])
        plain = svm_scores(x, y, clips, speakers, per_speaker=False)
        spk = svm_scores(x, y, clips, speakers, per_speaker=True)
        print(f"| {name} | {x.shape[1]} | {plain['random'][0]:.3f} | {plain['random'][1]:.3f} | "
              f"{plain['speaker'][1]:.3f} +- {plain['speaker'][2]:.3f} | {spk['speaker'][1]:.3f} |", flush=True)


if __name__ == "__main__":
    main()
