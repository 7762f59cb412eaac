"""Training: cached features, a protocol split, resumable epochs, early stopping on validation UAR, a report.

A run directory holds checkpoint/ (last model with optimiser state, best weights, state.json) so
that rerunning the same command resumes, and on completion model.keras, normalizer.json,
feature_config.json, preset.json, metrics.json and the PNG figures.
"""

from __future__ import annotations

import json
from pathlib import Path

from speechsense.training.data import MEMBER_SEED_STRIDE, prepare_data
from speechsense.training.folds import speaker_folds
from speechsense.training.hybrid.refit import refit_plan
from speechsense.training.hybrid.results import finish
from speechsense.training.loop import Checkpoint, fit, make_optimizer
from speechsense.training.presets import Preset
from speechsense.training.report import publish


def run(preset: Preset, protocol: str, fold: int, epochs: int | None, out: Path, data_root: Path,
        cache_dir: Path, workers: int = 2, reports: Path | None = None,
        members: list[int] | None = None, refit_from: Path | None = None) -> dict | None:
    """Train one split to completion (resuming if interrupted), write its report folder, and copy the
    report's light files to `reports` when given. An ensemble preset trains its members (all, or the
    listed ones) and then combines them; None while members are still missing. `refit_from`: the
    finished `random` run whose kept epoch a `random-full` refit trains to (see refit_plan)."""
    if preset.members > 1:
        from speechsense.training.hybrid.ensemble import run_ensemble

        return run_ensemble(preset, protocol, fold, epochs, out, data_root, cache_dir, workers, reports, members,
                            refit_from)
    return run_member(preset, protocol, fold, epochs, out, data_root, cache_dir, workers, reports,
                      refit_from=refit_from)


def run_member(preset: Preset, protocol: str, fold: int, epochs: int | None, out: Path, data_root: Path,
               cache_dir: Path, workers: int = 2, reports: Path | None = None, member: int = 0,
               refit_from: Path | None = None) -> dict:
    """One model of a split (a single preset's only model, or an ensemble's member k), kept once finished."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / "metrics.json").exists():
        print(f"{out} is complete; metrics.json kept (delete the folder to retrain)", flush=True)
        metrics = json.loads((out / "metrics.json").read_text())
    else:
        metrics = _train(preset, protocol, fold, epochs, out, data_root, cache_dir, workers, member, refit_from)
    if reports is not None:
        publish(out, reports)
    return metrics


def _train(preset: Preset, protocol: str, fold: int, epochs: int | None, out: Path, data_root: Path,
           cache_dir: Path, workers: int, member: int = 0, refit_from: Path | None = None) -> dict:
    import keras

    from speechsense.training.hybrid.models import build_model

    preset, epochs, stop = refit_plan(preset, protocol, epochs, refit_from)
    keras.utils.set_random_seed(preset.seed + fold + MEMBER_SEED_STRIDE * member)
    data = prepare_data(preset, protocol, fold, data_root, cache_dir, workers)
    cfg = preset.features

    def build():
        model = build_model(preset.recipe.model, cfg.frames, cfg.n_features, preset.recipe.dropout)
        model.compile(optimizer=make_optimizer(preset), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    ckpt = Checkpoint(out)
    model = ckpt.load_model(build)
    print(f"{preset.name} / {data.split.name}{f' / member {member}' if preset.members > 1 else ''}: "
          f"{model.count_params():,} parameters, {epochs} epochs max"
          + (f", refit: stops after epoch {stop}" if stop else ""), flush=True)
    fit(model, data, preset, epochs, ckpt, member, stop)
    if preset.recipe.early_stopping and (ckpt.dir / "best.weights.h5").exists():
        model.load_weights(ckpt.dir / "best.weights.h5")
        print(f"restored best weights from epoch {ckpt.state['best_epoch']}", flush=True)
    return finish(model, data, preset, protocol, fold, out, ckpt.state | {"max_epochs": epochs})


def run_speaker(preset: Preset, folds: list[int], epochs: int | None, out: Path, data_root: Path,
                cache_dir: Path, workers: int = 2, reports: Path | None = None,
                members: list[int] | None = None) -> dict:
    """Folds of the speaker protocol in turn (finished ones are kept), then the summary of all measured."""
    return speaker_folds(preset.name, folds, out, reports, lambda fold, run_dir, fold_reports: run(
        preset, "speaker", fold, epochs, run_dir, data_root, cache_dir, workers, fold_reports, members))
