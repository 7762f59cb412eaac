"""The speaker protocol's folds in turn, then their summary: shared by the families that train per fold."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from speechsense.training.report import publish, summarise_folds, write_json
from speechsense.training.splits import SPEAKER_FOLDS

# (fold, its run folder, its reports folder or None) -> that fold's metrics, None while it is unfinished
FoldRunner = Callable[[int, Path, Path | None], dict | None]


def speaker_folds(name: str, folds: list[int], out: Path, reports: Path | None, one: FoldRunner) -> dict:
    """Folds in turn (finished ones are kept), then the summary of all measured, written beside them."""
    for fold in folds:
        one(fold, out / f"fold{fold}", reports / f"fold{fold}" if reports else None)
    done = [json.loads((out / f"fold{k}" / "metrics.json").read_text())
            for k in range(SPEAKER_FOLDS) if (out / f"fold{k}" / "metrics.json").exists()]
    if not done:
        print(f"SPEAKER {name}: no fold finished yet, so no summary", flush=True)
        return {"preset": name, "protocol": "speaker", "folds_measured": [], "complete": False}
    summary = {"preset": name, "protocol": "speaker", "n_folds": SPEAKER_FOLDS,
               "complete": len(done) == SPEAKER_FOLDS, **summarise_folds(done)}
    write_json(out / "summary.json", summary)
    if reports is not None:
        publish(out, reports)
    print(f"SPEAKER {name}: {len(done)}/{SPEAKER_FOLDS} folds, UAR {summary['uar_mean']:.4f} "
          f"+- {summary['uar_std']:.4f}, accuracy {summary['accuracy_mean']:.4f}", flush=True)
    return summary
