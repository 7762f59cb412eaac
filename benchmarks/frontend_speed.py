"""Features per window: librosa's per-window path against the batched front-end, in one run.

    python benchmarks/frontend_speed.py [--model models/speechsense-hybrid.onnx] [--seconds 4]
Windows: the first 3 s of RAVDESS clips through prepare_window (synthetic speech where the corpus
is absent), with the served model's feature config. Each path runs at batch sizes 1, 8 and 32,
first with numpy's BLAS threads as the process starts, then limited to one thread as the server
runs it (frontend.limit_blas_threads). Prints JSON: milliseconds per window, best of a few repeats.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import time
from pathlib import Path

import numpy as np

from speechsense.audio import load_file
from speechsense.features import compute_features, librosa_features, prepare_window
from speechsense.frontend import limit_blas_threads
from speechsense.server.config import EngineOptions
from speechsense.server.model import EmotionModel
from speechsense.synthetic import speech_like

REPO = Path(__file__).resolve().parent.parent
BATCHES = (1, 8, 32)


def real_windows(data: Path, cfg, n: int) -> np.ndarray:
    clips = sorted(glob.glob(str(data / "ravdess" / "Actor_*" / "*.flac")))[::25][:n]
    if not clips:
        return np.stack([prepare_window(speech_like(3.0, seed=s), cfg) for s in range(n)])
    return np.stack([prepare_window(load_file(c, cfg.sample_rate)[:cfg.window_samples], cfg) for c in clips])


def ms_per_window(fn, windows: np.ndarray, batch: int, seconds: float) -> float:
    """Best of repeated passes over windows in batches of batch; each pass at least once."""
    fn(windows[:batch])  # warm: caches, numba
    best, deadline = float("inf"), time.perf_counter() + seconds
    while True:
        t = time.perf_counter()
        for i in range(0, len(windows) - batch + 1, batch):
            fn(windows[i:i + batch])
        best = min(best, (time.perf_counter() - t) / (len(windows) // batch * batch))
        if time.perf_counter() > deadline:
            return round(best * 1000, 3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=REPO / "models" / "speechsense-hybrid.onnx")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    p.add_argument("--seconds", type=float, default=4.0, help="time per measurement (best pass counts)")
    args = p.parse_args()
    cfg = EmotionModel(args.model, EngineOptions()).meta.feature_config
    windows = real_windows(args.data, cfg, 64)
    paths = {"librosa_per_window": lambda b: [librosa_features(w, cfg) for w in b],
             "batched": lambda b: compute_features(b, cfg)}
    result = {"cpu_cores": os.cpu_count(), "feature_set": cfg.feature_set, "windows": len(windows),
              "load_average": os.getloadavg()[0]}
    for blas in ("default", "one_thread"):
        if blas == "one_thread":
            limit_blas_threads()
        result[f"ms_per_window_blas_{blas}"] = {
            name: {str(b): ms_per_window(fn, windows, b, args.seconds) for b in BATCHES}
            for name, fn in paths.items()}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
