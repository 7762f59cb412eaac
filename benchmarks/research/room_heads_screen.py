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

Round 3 (`--round 3`), after round 2's did too (same rule, stated before its figures): a gated mixture, the
baseline's head for windows that sound clean and the multiroom head for those that do not, by a logistic
detector of "a room copy" (babble, coloured, reverb, telephone rows against clean and white-noise rows) on
the same statistics: logits = (1 - p) x baseline + p x multiroom.

Round 2 (`--round 2`), added after round 1's candidates all lost 0.012 of clean speaker UAR (same rule, same
baseline, stated before its figures): the logit average of the baseline's and the multiroom head (one linear
head, exactly: heads.average), multiroom standardised on the clean rows only, and multiroom at C 0.02.
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
from speechsense.training.conditions import CONDITIONS
from speechsense.training.corpora import default_data_root
from speechsense.training.linear.heads import Heads, average, enrolment_mask, fit_detector, fit_logistic, gated
from speechsense.training.linear.room_eval import condition_stats, format_room_table, ravdess_rows, room_table
from speechsense.training.linear.train import _flat, load_stats, stats_source
from speechsense.training.presets import get_preset
from speechsense.training.splits import SPEAKER_FOLDS, make_split

REPO = Path(__file__).resolve().parents[2]
COPY_NAMES = ("noise", "babble", "coloured", "reverb", "telephone")  # the multiroom preset's copies, in order


@dataclass(frozen=True)
class Candidate:
    name: str
    copies: tuple[str, ...]
    c: float = 0.05
    clean_weight: float = 1.0  # weight of the clean rows against each copy's
    blend: tuple[str, ...] | None = None  # average with a head trained on these copies instead (its logits)
    clean_standardise: bool = False  # per-unit mean and std of the clean rows, not of all rows
    gated: bool = False  # with blend: a detector of room copies mixes the two heads instead of averaging


CANDIDATES = (
    Candidate("baseline: clean + white (1.1.0)", ("noise",)),
    Candidate("multiroom: clean + 5 copies", COPY_NAMES),
    Candidate("multiroom, C 0.1", COPY_NAMES, c=0.1),
    Candidate("multiroom, clean weighted x3", COPY_NAMES, clean_weight=3.0),
    Candidate("clean + white + telephone + reverb", ("noise", "reverb", "telephone")),
)
ROUND2 = (
    CANDIDATES[0],
    Candidate("average of baseline and multiroom heads", COPY_NAMES, blend=("noise",)),
    Candidate("multiroom, clean-row standardisation", COPY_NAMES, clean_standardise=True),
    Candidate("multiroom, C 0.02", COPY_NAMES, c=0.02),
)
ROUND3 = (
    CANDIDATES[0],
    Candidate("gated mixture of baseline and multiroom heads", COPY_NAMES, blend=("noise",), gated=True),
)


def population_head(x: np.ndarray, y: np.ndarray, weights: np.ndarray, c: float, clean_rows: int = 0) -> Heads:
    """The uncalibrated head alone (the profile head does not change what the conditions measure); standardised
    on the first clean_rows rows when given."""
    ref, ref_w = (x[:clean_rows], weights[:clean_rows]) if clean_rows else (x, weights)
    mean = np.average(ref, axis=0, weights=ref_w)
    std = np.sqrt(np.average((ref - mean) ** 2, axis=0, weights=ref_w)) + 1e-6
    w, b = fit_logistic((x - mean) / std, y, c, weights / weights.mean())
    return Heads(mean.astype(np.float32), std.astype(np.float32), w, b, w, b)


def training_rows(x, copies: dict[str, np.ndarray], rows: np.ndarray, y: np.ndarray, cand: Candidate):
    parts = [x[rows], *(copies[k][rows] for k in cand.copies)]
    weights = np.concatenate([np.full(len(rows), cand.clean_weight), np.ones(len(rows) * len(cand.copies))])
    return np.concatenate(parts), np.tile(y[rows], 1 + len(cand.copies)), weights


def fit_candidate(cand: Candidate, x, copies, rows: np.ndarray, y: np.ndarray) -> Heads:
    heads = population_head(*training_rows(x, copies, rows, y, cand), cand.c,
                            len(rows) if cand.clean_standardise else 0)
    if cand.blend is None:
        return heads
    other = Candidate(cand.name, cand.blend, cand.c)
    clean = population_head(*training_rows(x, copies, rows, y, other), other.c)
    if cand.gated:  # the detector tells the room copies from the clean rows and the blend's copies
        x_all = np.concatenate([x[rows], *(copies[k][rows] for k in cand.copies)])
        is_room = np.repeat([k != "clean" and k not in cand.blend for k in ("clean", *cand.copies)], len(rows))
        return gated(clean, heads, *fit_detector(heads.standardise(x_all), is_room, cand.c))
    return average([heads, clean])


def screen(cand: Candidate, clips, x, copies, emodb, xe, rav_stats, emodb_stats) -> dict:
    y = np.array([label_index(c.label) for c in clips])
    enrol = enrolment_mask(clips)
    folds = []
    for fold in range(SPEAKER_FOLDS):
        split = make_split(clips, "speaker", fold)
        train, test = np.array(split.train + split.val), np.array(split.test)
        folds.append((fit_candidate(cand, x, copies, train, y), test[~enrol[test]]))
    all_heads = fit_candidate(cand, x, copies, np.arange(len(clips)), y)
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
    p.add_argument("--stats-model", type=Path, default=None,
                   help="encoder model file whose statistics are read (default: the preset's, the bundled encoder; "
                        "1.2.0 and 1.3.0 compute the same statistics)")
    p.add_argument("--round", type=int, choices=(1, 2, 3), default=1, help="which round's candidates")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    root = args.data_root or default_data_root()
    preset = get_preset("whisper-base4-linear-multiroom")
    if args.stats_model is not None:
        preset = preset.with_recipe(stats_model=str(args.stats_model))
    clips, x, emodb, xe, copy_list = load_stats(preset, root, args.cache)
    copies = dict(zip(COPY_NAMES, copy_list, strict=True))
    source = stats_source(preset)
    rav = ravdess_rows(clips)
    flat = lambda s: _flat(preset, s)  # noqa: E731
    rav_stats = condition_stats(source, [clips[i].path for i in rav], root, args.cache, flat)
    emodb_stats = condition_stats(source, [c.path for c in emodb], root, args.cache, flat)
    results = {}
    candidates = {1: CANDIDATES, 2: ROUND2, 3: ROUND3}[args.round]
    for cand in candidates:
        t0 = time.time()
        results[cand.name] = screen(cand, clips, x, copies, emodb, xe, rav_stats, emodb_stats)
        print(f"\n== {cand.name} ({time.time() - t0:.0f} s)\n{format_room_table(results[cand.name])}", flush=True)
    chosen = choose(results)
    print(f"\nchosen by the rule: {chosen}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"round": args.round, "candidates": [vars(c) for c in candidates],
                                         "results": results, "chosen": chosen}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
