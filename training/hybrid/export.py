"""What keras export needs of the hybrid family: its graph, the metadata naming its data, and the commands
that rebuild it (training/keras_export.py does the conversion, parity and quantisation)."""

from __future__ import annotations

import json
from pathlib import Path

TRAINING_DATA = ("RAVDESS speech, actors 1-20 (1,200 clips, CC BY-NC-SA 4.0) + TESS (2,800 clips, "
                 "CC BY-NC-ND 4.0); acted English speech; non-commercial use only")


def model_fields(run: Path) -> dict:
    """training_data for ModelMetadata (the hybrid is the metadata's default family)."""
    return {"training_data": TRAINING_DATA}


def load_model(run: Path):
    from speechsense.training.hybrid.models import load_model as load

    return load(run / "model.keras")


def reproduce(run: Path, speaker_dir: Path, version: str, out: Path, card: Path) -> list[str]:
    """The commands that rebuild this model, its figures and this export (each resumes if interrupted)."""
    m = json.loads((run / "metrics.json").read_text())
    preset = m["preset"]
    random_epochs = f" --epochs {m['max_epochs']}" if m.get("max_epochs") else ""
    folds = [json.loads(f.read_text()) for f in sorted(speaker_dir.glob("fold*/metrics.json"))]
    fold_epochs = f" --epochs {folds[0]['max_epochs']}" if folds and folds[0].get("max_epochs") else ""
    rel = f"runs/{preset}/{m['protocol']}"
    refit = [f"speechsense-train --preset {preset} --protocol random-full"] if m["protocol"] == "random-full" else []
    export = f"speechsense-export keras --run {rel} --out {out} --card {card} --model-version {version} --quantize"
    return [f"speechsense-train --preset {preset} --protocol random{random_epochs}", *refit,
            f"speechsense-train --preset {preset} --protocol speaker --fold all{fold_epochs}", export,
            f"python benchmarks/noise_eval.py --json {rel}/noise.json && {export}"]
