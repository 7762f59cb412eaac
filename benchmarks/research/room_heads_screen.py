"""Which training copies make the encoder's linear heads robust without costing clean accuracy.

On the bundled encoder file's cached statistics (fill them with `speechsense-train --preset
whisper-base4-linear-multiroom --protocol calibration`, or this script computes them), each candidate's
population head is trained per speaker fold and scored on that fold's held-out actors in every benchmark
condition (training/conditions.py), and on EmoDB with heads trained on all of RAVDESS + TESS. Uncalibrated,
enrolment clips left out, as the calibration table.

The rule, fixed before any candidate's figure: the baseline is 1.1.0's recipe (clean + one white-noise
copy, C = 0.05). A candidate qualifies when its clean speaker-fold UAR is at least the baseline's and its
clean EmoDB UAR at most 0.01 below the baseline's; among those, the one with the best mean speaker-fold UAR
over the 9 other conditions is chosen; none qualifying, the baseline stays.
    python benchmarks/research/room_heads_screen.py --json reports/room_heads_screen.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechsense.labels import label_index
from speechsense.training.calibration import Heads, enrolment_mask, fit_logistic
from speechsense.training.conditions import CONDITIONS
from speechsense.training.corpora import default_data_root
from speechsense.training.linear_train import _flat, load_stats, stats_source
from speechsense.training.presets import get_preset
from speechsense.training.room_eval import condition_stats, format_room_table, ravdess_rows, room_table
from speechsense.training.splits import SPEAKER_FOLDS, make_split

REPO = Path(__file__).resolve().parents[2]
COPY_NAMES = ("noise", "babble", "coloured", "reverb", "telephone")  # the multiroom preset's copies, in order


@dataclass(frozen=True)
class Candidate:
    name: str
    copies: tuple[str, ...]
    c: float = 0.05
    clean_weight: float = 1.0  # weight of the clean rows against each copy's


CANDIDATES = (
    Candidate("baseline: clean + white (1.1.0)", ("noise",)),
    Candidate("multiroom: clean + 5 copies", COPY_NAMES),
    Candidate("multiroom, C 0.1", COPY_NAMES, c=0.1),
    Candidate("multiroom, clean weighted x3", COPY_NAMES, clean_weight=3.0),
    Candidate("clean + white + telephone + reverb", ("noise", "reverb", "telephone")),
)


def population_head(x: np.ndarray, y: np.ndarray, weights: np.ndarray, c: float) -> Heads:
    """The uncalibrated head alone (the profile head does not change what the conditions measure)."""
    mean = np.average(x, axis=0, weights=weights)
    std = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=weights)) + 1e-6
    w, b = fit_logistic((x - mean) / std, y, c, weights / weights.mean())
    return Heads(mean.astype(np.float32), std.astype(np.float32), w, b, w, b)


def training_rows(x, copies: dict[str, np.ndarray], rows: np.ndarray, y: np.ndarray, cand: Candidate):
    parts = [x[rows], *(copies[k][rows] for k in cand.copies)]
    weights = np.concatenate([np.full(len(rows), cand.clean_weight), np.ones(len(rows) * len(cand.copies))])
    return np.concatenate(parts), np.tile(y[rows], 1 + len(cand.copies)), weights


def screen(cand: Candidate, clips, x, copies, emodb, xe, rav_stats, emodb_stats) -> dict:
    y = np.array([label_index(c.label) for c in clips])
    enrol = enrolment_mask(clips)
    folds = []
    for fold in range(SPEAKER_FOLDS):
        split = make_split(clips, "speaker", fold)
        train, test = np.array(split.train + split.val), np.array(split.test)
        folds.append((population_head(*training_rows(x, copies, train, y, cand), cand.c), test[~enrol[test]]))
    all_heads = population_head(*training_rows(x, copies, np.arange(len(clips)), y, cand), cand.c)
    return room_table(folds, all_heads, clips, x, rav_stats, emodb, xe, emodb_stats)


def choose(results: dict[str, dict]) -> str:
    """The rule of the module docstring."""
    names = list(results)
    base = results[names[0]]
    others = [n for n in CONDITIONS if n != "clean"]

    def qualifies(t):
        return (t["clean"]["speaker"]["mean"] >= base["clean"]["speaker"]["mean"]
                and t["clean"]["emodb"] >= base["clean"]["emodb"] - 0.01)

    ok = [n for n in names[1:] if qualifies(results[n])]
    if not ok:
        return names[0]
    return max(ok, key=lambda n: np.mean([results[n][c]["speaker"]["mean"] for c in others]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--cache", type=Path, default=REPO / "cache")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    root = args.data_root or default_data_root()
    preset = get_preset("whisper-base4-linear-multiroom")
    clips, x, emodb, xe, copy_list = load_stats(preset, root, args.cache)
    copies = dict(zip(COPY_NAMES, copy_list, strict=True))
    source = stats_source(preset)
    rav = ravdess_rows(clips)
    flat = lambda s: _flat(preset, s)  # noqa: E731
    rav_stats = condition_stats(source, [clips[i].path for i in rav], root, args.cache, flat)
    emodb_stats = condition_stats(source, [c.path for c in emodb], root, args.cache, flat)
    results = {}
    for cand in CANDIDATES:
        t0 = time.time()
        results[cand.name] = screen(cand, clips, x, copies, emodb, xe, rav_stats, emodb_stats)
        print(f"\n== {cand.name} ({time.time() - t0:.0f} s)\n{format_room_table(results[cand.name])}", flush=True)
    chosen = choose(results)
    print(f"\nchosen by the rule: {chosen}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"candidates": [vars(c) for c in CANDIDATES], "results": results,
                                         "chosen": chosen}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
