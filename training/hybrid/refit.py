"""`random-full` refits: a recipe retrained on train + validation clips, stopped where its `random` run stopped."""

from __future__ import annotations

import json
from pathlib import Path

from speechsense.training.presets import Preset


def refit_plan(preset: Preset, protocol: str, epochs: int | None, refit_from: Path | None,
               ) -> tuple[Preset, int, int | None]:
    """(recipe, schedule length, stop epoch) of a run. A `random-full` refit has no held-out validation
    to stop on, so it repeats its `random` run's schedule and stops at the epoch that run kept."""
    if protocol != "random-full":
        return preset, epochs or preset.recipe.epochs, None
    if refit_from is None or not (refit_from / "metrics.json").is_file():
        raise ValueError(f"a random-full refit of {preset.name!r} needs its finished random run "
                         f"(metrics.json in {refit_from}): train --protocol random first")
    chosen = json.loads((refit_from / "metrics.json").read_text())
    if chosen["preset"] != preset.name:
        raise ValueError(f"{refit_from} is a run of {chosen['preset']!r}, not {preset.name!r}")
    return preset.with_recipe(early_stopping=False), chosen["max_epochs"], kept_epoch(chosen)


def kept_epoch(metrics: dict) -> int:
    """The epoch whose weights a finished single-network run kept."""
    return metrics["best_epoch"] if metrics["kept"] == "best" else metrics["epochs_run"]
