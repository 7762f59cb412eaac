"""How well does a served model hold up in noise, and does noise reduction help? Measured.

Takes the test (or validation) clips of the `random` protocol (never trained on), adds noise at several SNRs, and
scores each clip through the serving path (prepare + features + standardise + ONNX Runtime), with
and without the server's noise reduction (noisereduce, stationary). White noise is the kind that
training augmentation adds; pink noise and babble (other clips of the same part talking at once) are held out.
    python benchmarks/noise_eval.py --model models/speechsense-hybrid.onnx --json runs/<preset>/random/noise.json
With --json the rows are also saved there; speechsense-export puts them in the model card.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from speechsense.audio import load_file
from speechsense.features import prepare_window
from speechsense.labels import label_index
from speechsense.server.config import EngineOptions
from speechsense.server.engine import reduce_noise
from speechsense.server.model import EmotionModel
from speechsense.training.corpora import load_manifest
from speechsense.training.report import evaluate
from speechsense.training.splits import make_split

REPO = Path(__file__).resolve().parent.parent


NOISES = ("white", "pink", "babble")
BABBLE_TALKERS = 6


def noise_like(kind: str, n: int, rng: np.random.Generator, pool: list[np.ndarray]) -> np.ndarray:
    """n samples of unit-power noise. White is what training adds; pink (1/f, weighted to low
    frequencies like room and traffic hum) and babble (several other clips summed) are not."""
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        spectrum = np.fft.rfft(rng.standard_normal(n))
        spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1.0))
        x = np.fft.irfft(spectrum, n)
    elif kind == "babble":
        x = np.zeros(n)
        for k in rng.choice(len(pool), BABBLE_TALKERS, replace=False):
            talker = np.resize(pool[k], n)  # tiled when shorter than the clip
            x += talker / max(float(np.sqrt(np.mean(talker.astype(np.float64) ** 2))), 1e-9)
    else:
        raise ValueError(f"unknown noise {kind!r}; expected one of {', '.join(NOISES)}")
    return x / max(float(np.sqrt(np.mean(x ** 2))), 1e-12)


def noisy(samples: np.ndarray, kind: str, snr_db: float | None, rng: np.random.Generator,
          pool: list[np.ndarray]) -> np.ndarray:
    if snr_db is None:
        return samples
    power = float(np.mean(samples.astype(np.float64) ** 2))
    noise = noise_like(kind, samples.size, rng, pool)
    return (samples + noise * np.sqrt(power / 10 ** (snr_db / 10))).astype(np.float32)


def score(model: EmotionModel, audio: list[np.ndarray], y: np.ndarray, kind: str, snr: float | None,
          nr: bool) -> dict:
    """Accuracy and UAR of the clips with one kind of noise at one SNR, through the serving path."""
    meta = model.meta
    rng = np.random.default_rng(0)
    feats = []
    for i, a in enumerate(audio):
        # A clip is never mixed into its own babble.
        x = noisy(a, kind, snr, rng, audio[:i] + audio[i + 1:])
        if nr:
            x = reduce_noise(x, meta.feature_config.sample_rate)
        feats.append(model.inputs_of(prepare_window(x, meta.feature_config)[None])[0])  # features or the window
    probs = np.concatenate([model.predict(np.stack(feats[i:i + 64])) for i in range(0, len(feats), 64)])
    m = evaluate(probs, y)
    return {"noise": kind if snr is not None else "none", "snr_db": snr if snr is not None else "clean",
            "noise_reduction": nr, "clips": len(audio), "accuracy": round(m["accuracy"], 4),
            "uar": round(m["uar"], 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=REPO / "models" / "speechsense-hybrid.onnx")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    p.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0, 5.0])
    p.add_argument("--noise", choices=NOISES, nargs="+", default=list(NOISES),
                   help="kinds of noise (default all; training augmentation adds white noise only)")
    p.add_argument("--reduction-noise", choices=NOISES, nargs="*", default=["white"],
                   help="kinds also scored with the server's noise reduction on (default white)")
    p.add_argument("--part", choices=("val", "test"), default="test",
                   help="clips of the `random` split to score (default test; choose models on val)")
    p.add_argument("--limit", type=int, default=400, help="clips to use")
    p.add_argument("--json", type=Path, default=None, help="also write the rows here (read by the model card)")
    args = p.parse_args()
    model = EmotionModel(args.model, EngineOptions())
    clips = load_manifest(args.data, REPO / "cache" / "manifest.json").clips
    test = [clips[i] for i in getattr(make_split(clips, "random"), args.part)][: args.limit]
    y = np.array([label_index(c.label) for c in test])
    audio = [load_file(c.path, model.meta.feature_config.sample_rate) for c in test]
    cases = [("white", None, False)] + ([("white", None, True)] if args.reduction_noise else [])
    cases += [(kind, snr, nr) for kind in args.noise for snr in args.snr
              for nr in ((False, True) if kind in args.reduction_noise else (False,))]
    rows = []
    for kind, snr, nr in cases:
        rows.append(score(model, audio, y, kind, snr, nr))
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"model": str(args.model), "part": args.part, "rows": rows}, indent=1))

if __name__ == "__main__":
    main()
