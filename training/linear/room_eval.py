"""Robustness of a linear-head preset on voices it never heard, per benchmark condition, before export.

Each speaker fold's heads score that fold's test actors in every condition of training/conditions.py, and
the heads trained on all RAVDESS + TESS clips score EmoDB (its 6 emotions) in each; one window per clip,
the statistics the model file itself computes (as training/linear/headstats.py), uncalibrated, on the clips the
calibration table scores (enrolment clips left out), so its clean row is that table's uncalibrated one.
benchmarks/robustness.py measures the exported file on the same audio through the server's Engine, gate
included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from speechsense.labels import label_index
from speechsense.training.conditions import CONDITIONS, Condition
from speechsense.training.corpora import Clip
from speechsense.training.linear.heads import Heads, emodb_restricted, uar
from speechsense.training.linear.headstats import HeadStats


def condition_stats(source: Path, paths: list[str], data_root: Path, cache: Path, flat,
                    threads: int = 2) -> dict[str, np.ndarray]:
    """Flattened statistics of the clips at paths in every condition but clean, cached like the copies."""
    return {name: flat(HeadStats(source, cache / "headstats", threads,
                                 variant=Condition(name, babble_root=str(data_root))).get(paths))
            for name in CONDITIONS if name != "clean"}


def ravdess_rows(clips: list[Clip]) -> np.ndarray:
    """Row numbers of the RAVDESS clips (the speaker folds' test actors), in manifest order."""
    return np.array([i for i, c in enumerate(clips) if c.corpus == "ravdess"])


def room_table(fold_heads: list[tuple[Heads, np.ndarray]], emodb_heads: Heads | None, clips: list[Clip],
               clean: np.ndarray, rav_stats: dict[str, np.ndarray], emodb: list[Clip] | None,
               emodb_clean: np.ndarray | None, emodb_stats: dict[str, np.ndarray]) -> dict:
    """{condition: {"speaker": mean/std/per_fold UAR, "emodb": UAR}}.

    fold_heads: (heads, test rows into clips) per fold; rav_stats: per condition, rows aligned with
    ravdess_rows(clips); clean conditions read `clean` / `emodb_clean`."""
    y = np.array([label_index(c.label) for c in clips])
    position = {int(r): k for k, r in enumerate(ravdess_rows(clips))}
    out = {}
    for name in CONDITIONS:
        per_fold = []
        for heads, test in fold_heads:
            x = clean[test] if name == "clean" else rav_stats[name][[position[int(r)] for r in test]]
            per_fold.append(uar(y[test], heads.logits(heads.standardise(x)).argmax(axis=1)))
        row = {"speaker": {"mean": float(np.mean(per_fold)), "std": float(np.std(per_fold)), "per_fold": per_fold}}
        if emodb_heads is not None and emodb:
            ye = np.array([label_index(c.label) for c in emodb])
            xe = emodb_clean if name == "clean" else emodb_stats[name]
            row["emodb"] = uar(ye, emodb_restricted(emodb_heads.logits(emodb_heads.standardise(xe))))
        out[name] = row
    return out


def format_room_table(table: dict, targets: dict[str, float] | None = None) -> str:
    """Plain text: one line per condition, speaker-fold mean ± std and EmoDB, the target where one is set."""
    lines = []
    for name, row in table.items():
        spk = row["speaker"]
        line = f"{name:18s} speaker folds {spk['mean']:.3f} ± {spk['std']:.3f}"
        if "emodb" in row:
            line += f"  EmoDB {row['emodb']:.3f}"
        if targets and name in targets:
            line += f"  (target {targets[name]:.2f})"
        lines.append(line)
    return "\n".join(lines)
