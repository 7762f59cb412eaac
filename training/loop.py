"""The Keras side of training: threads, optimiser and schedule, resumable checkpoints and the epoch loop."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np

from speechsense.labels import LABELS
from speechsense.training.data import Data, epoch_data
from speechsense.training.presets import Preset
from speechsense.training.report import evaluate, short, write_json


def limit_threads(n: int = 2) -> None:
    """Keep TensorFlow to n cores (the machine is shared)."""
    import tensorflow as tf

    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(min(n, 2))
    except RuntimeError:  # already initialised in this process; keep what it has
        pass


def make_optimizer(preset: Preset):
    """The preset's optimiser; the learning rate is then set per epoch by the schedule."""
    import keras

    if preset.recipe.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=preset.recipe.learning_rate)
    if preset.recipe.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=preset.recipe.learning_rate)
    if preset.recipe.optimizer == "adamw":
        r = preset.recipe
        return keras.optimizers.AdamW(learning_rate=r.learning_rate, weight_decay=r.weight_decay)
    raise ValueError(f"unknown optimizer {preset.recipe.optimizer!r}")


def lr_at(preset: Preset, epoch: int, total: int) -> float:
    """Learning rate for a 0-based epoch: constant, or linear warm-up then cosine decay to 1%."""
    if preset.recipe.schedule == "constant":
        return preset.recipe.learning_rate
    if epoch < preset.recipe.warmup_epochs:
        return preset.recipe.learning_rate * (epoch + 1) / (preset.recipe.warmup_epochs + 1)
    span = max(1, total - preset.recipe.warmup_epochs)
    progress = min(1.0, (epoch - preset.recipe.warmup_epochs) / span)
    return preset.recipe.learning_rate * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


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
        from speechsense.training.hybrid.models import load_model

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
    weights = class_weights(data.y_train) if preset.recipe.class_weights else None
    for epoch in range(st["epochs_done"], stop or epochs):
        if preset.recipe.early_stopping and st["bad_epochs"] >= preset.recipe.patience:
            print(f"early stop: no val UAR gain in {preset.recipe.patience} epochs", flush=True)
            break
        t0 = time.time()
        lr = lr_at(preset, epoch, epochs)
        model.optimizer.learning_rate.assign(lr)
        x, y = epoch_data(data, preset, epoch, member)
        hist = model.fit(x, y, batch_size=preset.recipe.batch_size, epochs=1, shuffle=True, verbose=0,
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
