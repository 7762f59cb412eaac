"""Screen: an encoder preset's head on speaker folds, with preset overrides, outside the committed reports.

    python benchmarks/research/encoder_head_screen.py whisper-base-head 0,1,2,3,4 '{"keep_aug": true}' aug
Without "keep_aug" the head sees clean clips only. Runs go to /tmp/quick/<tag>/fold<k>; prints UAR per fold.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from speechsense.training.augment import AugmentConfig
from speechsense.training.corpora import default_data_root
from speechsense.training.encoder.train import run_encoder
from speechsense.training.presets import PRESETS


def main() -> None:
    name, folds = sys.argv[1], [int(f) for f in sys.argv[2].split(",")]
    over = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    tag = sys.argv[4] if len(sys.argv) > 4 else "x"
    if "head_layers" in over:
        over["head_layers"] = tuple(over["head_layers"])
    keep_aug = over.pop("keep_aug", False)
    preset = PRESETS[name].with_recipe(**over)
    if not keep_aug:
        preset = dataclasses.replace(preset, augment=AugmentConfig())
    uars = []
    for f in folds:
        m = run_encoder(preset, "speaker", f, None, Path(f"/tmp/quick/{tag}/fold{f}"), default_data_root(),
                        Path("cache"))
        uars.append(m["test"]["uar"])
        print("FOLD", f, m["test"]["uar"], m["val"]["uar"], [round(x, 2) for x in m["layer_weights"]], flush=True)
    print("MEAN", np.mean(uars), uars)


if __name__ == "__main__":
    main()
