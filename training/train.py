"""Training: cached features, a protocol split, resumable epochs, early stopping on validation UAR, a report.

A run directory holds checkpoint/ (last model with optimiser state, best weights, state.json) so
that rerunning the same command resumes, and on completion model.keras, normalizer.json,
feature_config.json, preset.json, metrics.json and the PNG figures.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from speechsense.features import Normalizer
from speechsense.labels import LABELS, label_index
from speechsense.training.augment import Variant, spec_mask
from speechsense.training.corpora import load_manifest
from speechsense.training.featstore import FeatureStore
from speechsense.training.presets import Preset
from speechsense.training.report import (
    evaluate,
    plot_confusion,
    plot_curves,
    publish,
    short,
    summarise_folds,
    write_json,
)
from speechsense.training.splits import SPEAKER_FOLDS, Split, make_split

log = logging.getLogger(__name__)


def limit_threads(n: int = 2) -> None:
    """Keep TensorFlow to n cores (the machine is shared)."""
    import tensorflow as tf

    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(min(n, 2))
    except RuntimeError:  # already initialised in this process; keep what it has
        pass


@dataclass
class Data:
    """Standardised arrays of one split; aug holds (copies, n_train, T, F) or None."""

    x_train: np.ndarray
    y_train: np.ndarray
    aug: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    normalizer: Normalizer
    split: Split
    skipped: int


def prepare_data(preset: Preset, protocol: str, fold: int, data_root: Path, cache_dir: Path,
                 workers: int = 2, augmented: bool = True) -> Data:
    """Manifest, split, then features (augmented copies for the training clips only, when asked)."""
    manifest = load_manifest(data_root, cache_dir / "manifest.json")
    if manifest.skipped:
        print(f"skipped {len(manifest.skipped)} unreadable file(s): "
              + ", ".join(Path(p).name for p, _ in manifest.skipped), flush=True)
    clips = manifest.clips
    split = make_split(clips, protocol, fold, preset.seed)
    store = FeatureStore(cache_dir / "features", preset.features, workers)
    paths = {part: [clips[i].path for i in getattr(split, part)] for part in ("train", "val", "test")}
    labels = {part: np.array([label_index(clips[i].label) for i in getattr(split, part)], np.int64)
              for part in ("train", "val", "test")}
    t0 = time.time()
    store.ensure(paths["train"] + paths["val"] + paths["test"], [Variant()])
    variants = preset.augment.variants() if augmented else []
    store.ensure(paths["train"], variants)  # after the split: train clips only
    # One cache table in memory at a time, standardised in place: a speaker fold of 88 features would
    # otherwise peak at 2.7x what it keeps (5.5 GB for 2 GB).
    x = {part: store.get(p, Variant()) for part, p in paths.items()}
    store.forget(Variant())
    norm = Normalizer.fit(x["train"])
    for arr in x.values():
        norm.apply_inplace(arr)
    aug = None
    if variants:
        aug = np.empty((len(variants), *x["train"].shape), np.float32)
        for k, v in enumerate(variants):
            aug[k] = store.get(paths["train"], v)
            store.forget(v)
            norm.apply_inplace(aug[k])
    print(f"features ready in {time.time() - t0:.0f} s: train {len(paths['train'])} clips "
          f"(+{len(variants)} augmented copies each), val {len(paths['val'])}, test {len(paths['test'])}",
          flush=True)
    return Data(x["train"], labels["train"], aug, x["val"], labels["val"], x["test"], labels["test"], norm,
                split, len(manifest.skipped))


def make_optimizer(preset: Preset):
    """The preset's optimiser; the learning rate is then set per epoch by the schedule."""
    import keras

    if preset.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=preset.learning_rate)
    if preset.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=preset.learning_rate)
    if preset.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=preset.learning_rate, weight_decay=preset.weight_decay)
    raise ValueError(f"unknown optimizer {preset.optimizer!r}")


def lr_at(preset: Preset, epoch: int, total: int) -> float:
    """Learning rate for a 0-based epoch: constant, or linear warm-up then cosine decay to 1%."""
    if preset.schedule == "constant":
        return preset.learning_rate
    if epoch < preset.warmup_epochs:
        return preset.learning_rate * (epoch + 1) / (preset.warmup_epochs + 1)
    span = max(1, total - preset.warmup_epochs)
    progress = min(1.0, (epoch - preset.warmup_epochs) / span)
    return preset.learning_rate * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


# Member k of an ensemble offsets its seeds by k strides; member 0 keeps a single model's seeds, so
# a finished single run of the same recipe is that ensemble's member 0.
MEMBER_SEED_STRIDE = 7919


def epoch_data(data: Data, preset: Preset, epoch: int, member: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """This epoch's training windows: clean clips plus augmented copies (all, or k drawn per clip)."""
    aug_cfg = preset.augment
    rng = np.random.default_rng(preset.seed * 1000 + epoch + MEMBER_SEED_STRIDE * member)
    xs, ys = [data.x_train], [data.y_train]
    if data.aug is not None:
        n_copies, n = data.aug.shape[:2]
        k = aug_cfg.copies_per_epoch or n_copies
        picks = np.argsort(rng.random((n_copies, n)), axis=0)[:k]  # k distinct copies per clip
        for row in picks:
            xs.append(data.aug[row, np.arange(n)])
            ys.append(data.y_train)
    x, y = np.concatenate(xs), np.concatenate(ys)
    if aug_cfg.time_masks or aug_cfg.freq_masks:
        x = spec_mask(x, aug_cfg, rng)
    return x, y


def class_weights(y: np.ndarray) -> dict[int, float]:
    """Balanced weights n / (classes * count) for the classes present."""
    counts = np.bincount(y, minlength=len(LABELS))
    present = np.flatnonzero(counts)
    return {int(c): float(len(y) / (len(present) * counts[c])) for c in present}


def predict(model, x: np.ndarray) -> np.ndarray:
    """Probabilities in batches (predict_on_batch, no per-call overhead of predict's callbacks)."""
    return np.concatenate([np.asarray(model.predict_on_batch(x[i:i + 512])) for i in range(0, len(x), 512)])


class Checkpoint:
    """A run's resumable state: last model (with optimiser), best weights, history."""

    def __init__(self, out: Path) -> None:
        self.dir = out / "checkpoint"
        self.state_file = self.dir / "state.json"
        self.state = {"epochs_done": 0, "best_uar": -1.0, "best_ce": math.inf, "best_epoch": 0,
                      "bad_epochs": 0, "history": []}
        if self.state_file.exists():
            self.state = json.loads(self.state_file.read_text())

    def load_model(self, build):
        """The last checkpoint's model when resuming, else a freshly built one."""
        from speechsense.training.models import load_model

        last = self.dir / "last.keras"
        if self.state["epochs_done"] and last.exists():
            print(f"resuming from {last} after epoch {self.state['epochs_done']}", flush=True)
            return load_model(last)
        self.state["epochs_done"] = 0
        return build()

    def save(self, model, improved: bool) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if improved:  # written then renamed, so an interrupted save never leaves a corrupt best
            model.save_weights(self.dir / "best.tmp.weights.h5")
            (self.dir / "best.tmp.weights.h5").replace(self.dir / "best.weights.h5")
        model.save(self.dir / "last.tmp.keras")
        (self.dir / "last.tmp.keras").replace(self.dir / "last.keras")
        write_json(self.state_file, self.state)


def _is_better(state: dict, val: dict) -> bool:
    return val["uar"] > state["best_uar"] or (val["uar"] == state["best_uar"] and
                                               val["cross_entropy"] < state["best_ce"])


def fit(model, data: Data, preset: Preset, epochs: int, ckpt: Checkpoint, member: int = 0,
        stop: int | None = None) -> None:
    """Epoch loop with per-epoch progress, checkpoints, and early stopping on validation UAR; `stop` ends
    it early at a fixed epoch while the schedule still spans `epochs` (a refit)."""
    st = ckpt.state
    weights = class_weights(data.y_train) if preset.class_weights else None
    for epoch in range(st["epochs_done"], stop or epochs):
        if preset.early_stopping and st["bad_epochs"] >= preset.patience:
            print(f"early stop: no val UAR gain in {preset.patience} epochs", flush=True)
            break
        t0 = time.time()
        lr = lr_at(preset, epoch, epochs)
        model.optimizer.learning_rate.assign(lr)
        x, y = epoch_data(data, preset, epoch, member)
        hist = model.fit(x, y, batch_size=preset.batch_size, epochs=1, shuffle=True, verbose=0,
                         class_weight=weights).history
        val = evaluate(predict(model, data.x_val), data.y_val)
        better = _is_better(st, val)
        if better:
            st.update(best_uar=val["uar"], best_ce=val["cross_entropy"], best_epoch=epoch + 1, bad_epochs=0)
        else:
            st["bad_epochs"] += 1
        st["history"].append({"epoch": epoch + 1, "lr": lr, "loss": float(hist["loss"][-1]),
                              "accuracy": float(hist["accuracy"][-1]), "seconds": time.time() - t0,
                              "val": {k: val[k] for k in ("accuracy", "uar", "macro_f1", "cross_entropy")}})
        st["epochs_done"] = epoch + 1
        ckpt.save(model, better)
        print(f"epoch {epoch + 1}/{epochs} lr {lr:.2e} loss {hist['loss'][-1]:.4f} "
              f"acc {hist['accuracy'][-1]:.4f} | val {short(val)}{' *' if better else ''} | "
              f"{time.time() - t0:.0f} s, {len(x)} windows", flush=True)


def run(preset: Preset, protocol: str, fold: int, epochs: int | None, out: Path, data_root: Path,
        cache_dir: Path, workers: int = 2, reports: Path | None = None,
        members: list[int] | None = None, refit_from: Path | None = None) -> dict | None:
    """Train one split to completion (resuming if interrupted), write its report folder, and copy the
    report's light files to `reports` when given. An ensemble preset trains its members (all, or the
    listed ones) and then combines them; None while members are still missing. `refit_from`: the
    finished `random` run whose kept epoch a `random-full` refit trains to (see refit_plan)."""
    if preset.encoder:
        from speechsense.training.encoder_train import run_encoder

        return run_encoder(preset, protocol, fold, epochs, out, data_root, cache_dir, reports)
    if preset.members > 1:
        from speechsense.training.ensemble import run_ensemble

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


def refit_plan(preset: Preset, protocol: str, epochs: int | None, refit_from: Path | None,
               ) -> tuple[Preset, int, int | None]:
    """(recipe, schedule length, stop epoch) of a run. A `random-full` refit has no held-out validation
    to stop on, so it repeats its `random` run's schedule and stops at the epoch that run kept."""
    if protocol != "random-full":
        return preset, epochs or preset.epochs, None
    if refit_from is None or not (refit_from / "metrics.json").is_file():
        raise ValueError(f"a random-full refit of {preset.name!r} needs its finished random run "
                         f"(metrics.json in {refit_from}): train --protocol random first")
    chosen = json.loads((refit_from / "metrics.json").read_text())
    if chosen["preset"] != preset.name:
        raise ValueError(f"{refit_from} is a run of {chosen['preset']!r}, not {preset.name!r}")
    return replace(preset, early_stopping=False), chosen["max_epochs"], kept_epoch(chosen)


def kept_epoch(metrics: dict) -> int:
    """The epoch whose weights a finished single-network run kept."""
    return metrics["best_epoch"] if metrics["kept"] == "best" else metrics["epochs_run"]


def _train(preset: Preset, protocol: str, fold: int, epochs: int | None, out: Path, data_root: Path,
           cache_dir: Path, workers: int, member: int = 0, refit_from: Path | None = None) -> dict:
    import keras

    from speechsense.training.models import build_model

    preset, epochs, stop = refit_plan(preset, protocol, epochs, refit_from)
    keras.utils.set_random_seed(preset.seed + fold + MEMBER_SEED_STRIDE * member)
    data = prepare_data(preset, protocol, fold, data_root, cache_dir, workers)
    cfg = preset.features

    def build():
        model = build_model(preset.model, cfg.frames, cfg.n_features, preset.dropout)
        model.compile(optimizer=make_optimizer(preset), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    ckpt = Checkpoint(out)
    model = ckpt.load_model(build)
    print(f"{preset.name} / {data.split.name}{f' / member {member}' if preset.members > 1 else ''}: "
          f"{model.count_params():,} parameters, {epochs} epochs max"
          + (f", refit: stops after epoch {stop}" if stop else ""), flush=True)
    fit(model, data, preset, epochs, ckpt, member, stop)
    if preset.early_stopping and (ckpt.dir / "best.weights.h5").exists():
        model.load_weights(ckpt.dir / "best.weights.h5")
        print(f"restored best weights from epoch {ckpt.state['best_epoch']}", flush=True)
    return finish(model, data, preset, protocol, fold, out, ckpt.state | {"max_epochs": epochs})


def finish_files(model, data: Data, preset: Preset, out: Path) -> None:
    """What export needs from a run folder: the model, its input standardisation, features and recipe."""
    model.save(out / "model.keras")
    (out / "normalizer.json").write_text(data.normalizer.to_json())
    (out / "feature_config.json").write_text(preset.features.to_json())
    write_json(out / "preset.json", preset.to_dict())


def finish(model, data: Data, preset: Preset, protocol: str, fold: int, out: Path, state: dict) -> dict:
    """Evaluate on validation and test, save the model and its preprocessing, write the report."""
    val = evaluate(predict(model, data.x_val), data.y_val)
    test = evaluate(predict(model, data.x_test), data.y_test)
    finish_files(model, data, preset, out)
    split = {"name": data.split.name, "n_train": len(data.split.train), "n_val": len(data.split.val),
             "n_test": len(data.split.test), "test_speakers": list(data.split.test_speakers),
             "val_speakers": list(data.split.val_speakers)}
    metrics = {"preset": preset.name, "protocol": protocol, "fold": fold, "split": split,
               "epochs_run": state["epochs_done"], "max_epochs": state["max_epochs"],
               "best_epoch": state["best_epoch"],
               "kept": "best" if preset.early_stopping else "last", "skipped_files": data.skipped,
               "val_in_training": protocol == "random-full",
               "training_seconds": sum(h["seconds"] for h in state["history"]),
               "val": val, "test": test, "history": state["history"]}
    plot_curves(state["history"], out / "curves.png")
    plot_confusion(test["confusion"], f"{preset.name} / {data.split.name} test", out / "confusion_test.png")
    plot_confusion(val["confusion"], f"{preset.name} / {data.split.name} val", out / "confusion_val.png")
    write_json(out / "metrics.json", metrics)
    print(f"TEST {preset.name} / {data.split.name}: {short(test)}", flush=True)
    return metrics


def run_speaker(preset: Preset, folds: list[int], epochs: int | None, out: Path, data_root: Path,
                cache_dir: Path, workers: int = 2, reports: Path | None = None,
                members: list[int] | None = None) -> dict:
    """Folds of the speaker protocol in turn (finished ones are kept), then the summary of all measured."""
    for fold in folds:
        run(preset, "speaker", fold, epochs, out / f"fold{fold}", data_root, cache_dir, workers,
            reports / f"fold{fold}" if reports else None, members)
    done = [json.loads((out / f"fold{k}" / "metrics.json").read_text())
            for k in range(SPEAKER_FOLDS) if (out / f"fold{k}" / "metrics.json").exists()]
    if not done:
        print(f"SPEAKER {preset.name}: no fold finished yet, so no summary", flush=True)
        return {"preset": preset.name, "protocol": "speaker", "folds_measured": [], "complete": False}
    summary = {"preset": preset.name, "protocol": "speaker", "n_folds": SPEAKER_FOLDS,
               "complete": len(done) == SPEAKER_FOLDS, **summarise_folds(done)}
    write_json(out / "summary.json", summary)
    if reports is not None:
        publish(out, reports)
    print(f"SPEAKER {preset.name}: {len(done)}/{SPEAKER_FOLDS} folds, UAR {summary['uar_mean']:.4f} "
          f"+- {summary['uar_std']:.4f}, accuracy {summary['accuracy_mean']:.4f}", flush=True)
    return summary
