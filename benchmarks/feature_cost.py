"""Per-window feature cost of each preset's feature config, measured in one run on the same windows.

    python benchmarks/feature_cost.py [--windows 200]
Windows: the first 3 s of every 60th RAVDESS clip (real speech, through prepare_window as served).
Prints p50/p99 milliseconds of window_features per preset, so a richer feature set's serving cost
can be weighed against its accuracy before it is bundled.
"""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

import numpy as np

from speechsense.audio import load_file
from speechsense.features import window_features
from speechsense.training.presets import PRESETS

RATE = 16_000
REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    p.add_argument("--windows", type=int, default=200, help="timed calls per feature config")
    args = p.parse_args()
    clips = sorted(glob.glob(str(args.data / "ravdess" / "Actor_*" / "*")))[::60]
    if not clips:
        raise SystemExit(f"no RAVDESS clips under {args.data}")
    windows = [load_file(c, RATE)[: 3 * RATE] for c in clips]
    configs = {p.features.feature_set: p.features for p in PRESETS.values()}
    print(f"{len(windows)} real windows, {args.windows} timed calls per feature set")
    for name, cfg in configs.items():
        for w in windows[:5]:  # warm-up: numba compilation and caches
            window_features(w, cfg)
        times = []
        for i in range(args.windows):
            t0 = time.perf_counter()
            window_features(windows[i % len(windows)], cfg)
            times.append(time.perf_counter() - t0)
        ms = 1000 * np.array(times)
        print(f"{name:40s} p50 {np.percentile(ms, 50):6.2f} ms  p99 {np.percentile(ms, 99):6.2f} ms")


if __name__ == "__main__":
    main()
