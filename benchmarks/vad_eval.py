"""The absolute gate's calibration: recall on RAVDESS speech, false alarms on silence and steady noise.

    python benchmarks/vad_eval.py
Speech: the first 3 s of every 6th RAVDESS clip. Silence: each clip's own first 0.5 s tiled to 3 s.
Noise: white, brown and mains hum at -45/-35/-25 dBFS. Prints the fraction called speech per setting.
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import numpy as np

from speechsense.audio import load_file
from speechsense.server.vad import SpeechDetector

RATE = 16_000


def steady_noises(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    white = rng.standard_normal(n)
    brown = np.cumsum(rng.standard_normal(n))
    brown -= np.convolve(brown, np.ones(400) / 400, "same")
    t = np.arange(n) / RATE
    hum = np.sin(2 * np.pi * 50 * t) + 0.3 * np.sin(2 * np.pi * 150 * t)
    return {"white": white, "brown": brown, "hum": hum}


def at_dbfs(x: np.ndarray, level: float) -> np.ndarray:
    return (x / np.sqrt(np.mean(x**2)) * 10 ** (level / 20)).astype(np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    args = p.parse_args()
    files = sorted(glob.glob(str(args.data / "ravdess" / "Actor_*" / "*.flac")))[::6]
    if not files:
        raise SystemExit(f"no RAVDESS clips under {args.data}")
    speech, silence = [], []
    for f in files:
        y = load_file(f, RATE)
        speech.append(np.pad(y, (0, max(0, 3 * RATE - y.size)))[: 3 * RATE])
        silence.append(np.tile(y[: RATE // 2], 6))
    noises = steady_noises(3 * RATE)
    print(f"{len(files)} speech windows, {len(files)} silent windows")
    for mode in (1, 2, 3):
        for threshold in (0.05, 0.1, 0.2):
            d = SpeechDetector(RATE, mode, threshold, -50.0, gate="absolute")  # the old gate; gate_eval.py: the new
            recall = np.mean([d.is_speech(w) for w in speech])
            false = np.mean([d.is_speech(w) for w in silence])
            noisy = {f"{k}{lv}": d.is_speech(at_dbfs(x, lv)) for k, x in noises.items() for lv in (-45, -35, -25)}
            print(f"mode {mode} threshold {threshold}: speech recall {recall:.3f}, silence called speech {false:.3f}, "
                  f"noise called speech: {sorted(k for k, v in noisy.items() if v)}")


if __name__ == "__main__":
    main()
