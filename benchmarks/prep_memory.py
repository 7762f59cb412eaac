"""Peak memory of a training run's data preparation: two speaker folds in turn, as run_speaker does.

    python benchmarks/prep_memory.py [--preset improved-contrast]
Needs the `train` extra and a feature cache that training filled for the preset (cache/).
"""

from __future__ import annotations

import argparse
import gc
import resource
from pathlib import Path

from speechsense.training.corpora import default_data_root
from speechsense.training.data import prepare_data
from speechsense.training.presets import get_preset

REPO = Path(__file__).resolve().parent.parent


def rss_mb() -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) // 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="improved-contrast")
    p.add_argument("--cache", type=Path, default=REPO / "cache")
    args = p.parse_args()
    preset = get_preset(args.preset)
    data = None
    for fold in (0, 1):
        data = None
        gc.collect()  # the previous fold's arrays go before the next are read, as between runs
        data = prepare_data(preset, "speaker", fold, default_data_root(), args.cache, workers=1)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"{preset.name} fold {fold}: RSS {rss_mb()} MB holding the data, peak so far {peak} MB", flush=True)
    print(f"arrays held: {sum(a.nbytes for a in (data.x_train, data.x_val, data.x_test)) // 2**20} MB "
          f"+ augmented {0 if data.aug is None else data.aug.nbytes // 2**20} MB")


if __name__ == "__main__":
    main()
