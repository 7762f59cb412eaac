"""`speechsense-train`: train a preset on a protocol split, resumably, and write its report folder."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from speechsense.training.corpora import default_data_root
from speechsense.training.families import TrainJob, family_of, protocols
from speechsense.training.presets import PRESETS, SCREENS, Preset
from speechsense.training.splits import SPEAKER_FOLDS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags, each explained in --help."""
    presets = "; ".join(f"{p.name}: {p.description}" for p in PRESETS.values())
    parser = argparse.ArgumentParser(
        prog="speechsense-train",
        description="Train a SpeechSense emotion model on RAVDESS + TESS. Rerunning the same command resumes "
                    "an interrupted run from its last epoch checkpoint; a finished run is kept as is.",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS | SCREENS), default="improved",
                        help=f"training recipe (default improved). {presets}")
    parser.add_argument("--protocol", choices=protocols(), default="random",
                        help="evaluation split: 'random' = the study's stratified 80/10/10 over all clips "
                             "(speakers shared); 'random-full' = random's train + validation clips, trained "
                             "to the epoch a finished random run kept, scored on random's test clips (the "
                             "shipped model); 'speaker' = 5-fold by RAVDESS actor (2 male + 2 female per "
                             "test fold), TESS in training only; 'calibration' = for presets with a linear "
                             "head: the speaker folds and EmoDB read uncalibrated, with a speaker profile and "
                             "with session calibration, plus the heads that ship; 'corpus' = for presets with a "
                             "linear head: leave one corpus of the data root out in turn (RAVDESS, TESS, EmoDB), "
                             "read on the labels it shares with training and on EmoBox's 4 (default random)")
    parser.add_argument("--fold", default="all",
                        help=f"speaker protocol only: fold 0..{SPEAKER_FOLDS - 1}, a comma list, or 'all' "
                             "(default; folds run in turn, finished folds are skipped, then summary.json)")
    parser.add_argument("--member", default="all",
                        help="ensemble presets only: member k (from 0), a comma list, or 'all' (default; members train "
                             "in turn into <out>/member<k>, then are combined). Separate processes may train "
                             "different members side by side; the last one to finish combines them")
    parser.add_argument("--refit-from", type=Path, default=None,
                        help="random-full only: the finished random run whose kept epoch (per member) the refit "
                             "trains to (default runs/<preset>/random)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="maximum epochs (default: the preset's); also sets the length of a cosine schedule")
    parser.add_argument("--out", type=Path, default=None,
                        help="run folder (default runs/<preset>/<protocol> in the repository); speaker folds "
                             "go to <out>/fold<k>")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder holding ravdess/ and tess/ (default: $SPEECHSENSE_DATA, else "
                             "../shared/datasets relative to the repository)")
    parser.add_argument("--reports", type=Path, default=Path("reports"),
                        help="where a finished run's metrics.json, fold summary and figures are copied, as "
                             "<reports>/<preset>/<protocol>[/fold<k>] (default reports/ in the working directory: "
                             "committed, they are the evidence behind the model card's preset table)")
    parser.add_argument("--cache", type=Path, default=Path("cache"),
                        help="manifest and feature cache folder (default cache/ in the working directory)")
    parser.add_argument("--stats-model", type=Path, default=None,
                        help="linear presets only (--protocol calibration or corpus): the encoder model file "
                             "whose statistics the heads read (default: the preset's, the bundled encoder), e.g. an "
                             "earlier release to re-measure its recipe on its own file")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for TensorFlow (default 2)")
    parser.add_argument("--workers", type=int, default=2,
                        help="processes for feature extraction (default 2)")
    return parser.parse_args(argv)


def _folds(text: str) -> list[int]:
    if text == "all":
        return list(range(SPEAKER_FOLDS))
    folds = [int(f) for f in text.split(",")]
    bad = [f for f in folds if not 0 <= f < SPEAKER_FOLDS]
    if bad:
        raise SystemExit(f"--fold: folds must be in 0..{SPEAKER_FOLDS - 1}, got {bad}")
    return folds


def _members(text: str, preset: Preset) -> list[int] | None:
    if text == "all":
        return None
    members = [int(k) for k in text.split(",")]
    bad = [k for k in members if not 0 <= k < preset.members]
    if bad:
        raise SystemExit(f"--member: preset {preset.name} has members 0..{preset.members - 1}, got {bad}")
    return members


def main(argv: list[str] | None = None) -> int:
    """Entry point of speechsense-train."""
    args = parse_args(argv)
    if args.protocol == "random-full" and args.epochs:
        raise SystemExit("--epochs has no effect on random-full: a refit repeats its random run's schedule")
    if args.protocol != "random-full" and args.refit_from:
        raise SystemExit("--refit-from is for --protocol random-full only")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from speechsense.training.loop import limit_threads

    limit_threads(args.threads)
    preset = {**PRESETS, **SCREENS}[args.preset]
    family = family_of(preset)
    data_root = args.data_root or default_data_root()
    if not data_root.is_dir():
        print(f"data root {data_root} not found (set --data-root or SPEECHSENSE_DATA)", file=sys.stderr)
        return 2
    if args.protocol not in family.protocols:
        raise SystemExit(f"preset {preset.name} is of the {family.name} family, which trains with protocol "
                         f"{' or '.join(repr(p) for p in family.protocols)}, not {args.protocol!r}")
    if args.stats_model is not None:
        if family.name != "linear":
            raise SystemExit("--stats-model is for the linear family (--protocol calibration or corpus) only")
        preset = preset.with_recipe(stats_model=str(args.stats_model))
    refit_from = args.refit_from
    if args.protocol == "random-full":
        refit_from = refit_from or Path("runs") / preset.name / "random"
    job = TrainJob(args.protocol, args.out or Path("runs") / preset.name / args.protocol, data_root, args.cache,
                   args.reports / preset.name / args.protocol,
                   tuple(_folds(args.fold)) if args.protocol == "speaker" else (),
                   _members(args.member, preset), args.epochs, args.workers, args.threads, refit_from)
    family.train(preset, job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
