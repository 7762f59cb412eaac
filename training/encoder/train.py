"""Training the encoder family: a head on cached encoder layer statistics, on the hybrid's protocols and folds.

A run folder ends like a hybrid run's (metrics.json, preset.json, feature_config.json,
normalizer.json, figures) with head.keras instead of model.keras; export rebuilds the frozen
encoder from its wheel and joins it to the head in one graph.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechsense.features import Normalizer
from speechsense.labels import label_index
from speechsense.training.augment import Variant
from speechsense.training.corpora import Clip, load_manifest, scan_emodb
from speechsense.training.encoder.encstore import EncoderStore
from speechsense.training.presets import Preset
from speechsense.training.report import evaluate, plot_confusion, plot_curves, publish, short, write_json
from speechsense.training.splits import Split, make_split

log = logging.getLogger(__name__)


@dataclass
class StatsData:
    """Encoder statistics of one split: train holds the clean clips then each augmented copy."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    split: Split
    skipped: int


def split_clips(preset: Preset, protocol: str, fold: int, data_root: Path, cache_dir: Path
                ) -> tuple[list[Clip], Split, int]:
    """The manifest and the protocol's split, with the preset's extra corpora appended to training only."""
    manifest = load_manifest(data_root, cache_dir / "manifest.json")
    clips, split = list(manifest.clips), make_split(manifest.clips, protocol, fold, preset.seed)
    if "emodb" in preset.extra_corpora:
        extra = scan_emodb(data_root).clips
        first = len(clips)
        clips += extra
        split = Split(split.name, split.train + tuple(range(first, first + len(extra))), split.val, split.test,
                      split.test_speakers, split.val_speakers)
    return clips, split, len(manifest.skipped)


def prepare_stats(preset: Preset, protocol: str, fold: int, data_root: Path, cache_dir: Path,
                  threads: int = 2) -> StatsData:
    """Split, then cached statistics (clean for every part, augmented copies for training clips only)."""
    clips, split, skipped = split_clips(preset, protocol, fold, data_root, cache_dir)
    store = EncoderStore(cache_dir / "encoders", preset.recipe.encoder, preset.features, threads)
    part = {name: [clips[i] for i in getattr(split, name)] for name in ("train", "val", "test")}
    labels = {name: np.array([label_index(c.label) for c in cs], np.int64) for name, cs in part.items()}
    x = {name: store.get([c.path for c in cs], Variant()) for name, cs in part.items()}
    copies = [store.get([c.path for c in part["train"]], v) for v in preset.augment.variants()]
    x_train = np.concatenate([x["train"], *copies])
    y_train = np.concatenate([labels["train"]] * (1 + len(copies)))
    return StatsData(x_train, y_train, x["val"], labels["val"], x["test"], labels["test"], split, skipped)


def _keep_layers(preset: Preset, x: np.ndarray) -> np.ndarray:
    """Statistics of the hidden states the preset's encoder depth keeps (the cache holds all of them)."""
    return x[:, : preset.recipe.depth + 1] if preset.recipe.depth else x


def train_head(preset: Preset, data: StatsData, epochs: int, seed: int):
    """Fit the head with early stopping on validation UAR; returns (head, history, best epoch)."""
    import keras

    from speechsense.training.encoder.head import build_head
    from speechsense.training.loop import class_weights, lr_at, make_optimizer, predict

    keras.utils.set_random_seed(seed)
    x_train = _keep_layers(preset, data.x_train)
    x_val = _keep_layers(preset, data.x_val)
    flat = x_train.astype(np.float64)
    # floor: the cache is float16, so a smaller spread is rounding noise that standardising would blow up
    mean, std = flat.mean(axis=0), np.maximum(flat.std(axis=0), 1e-2)
    r = preset.recipe
    head = build_head(x_train.shape[1], x_train.shape[2], mean.astype(np.float32), std.astype(np.float32),
                      r.head_hidden, r.dropout, layers=r.head_layers or None, mix=r.head_mix)
    head.compile(optimizer=make_optimizer(preset), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    weights = class_weights(data.y_train) if preset.recipe.class_weights else None
    best, best_key, best_epoch, bad, history = None, (-1.0, 0.0), 0, 0, []
    for epoch in range(epochs):
        t0 = time.time()
        lr = lr_at(preset, epoch, epochs)
        head.optimizer.learning_rate.assign(lr)
        hist = head.fit(x_train, data.y_train, batch_size=preset.recipe.batch_size, epochs=1, shuffle=True, verbose=0,
                        class_weight=weights).history
        val = evaluate(predict(head, x_val), data.y_val)
        key = (val["uar"], -val["cross_entropy"])
        if key > best_key:
            best, best_key, best_epoch, bad = head.get_weights(), key, epoch + 1, 0
        else:
            bad += 1
        history.append({"epoch": epoch + 1, "lr": lr, "loss": float(hist["loss"][-1]),
                        "accuracy": float(hist["accuracy"][-1]), "seconds": time.time() - t0,
                        "val": {k: val[k] for k in ("accuracy", "uar", "macro_f1", "cross_entropy")}})
        print(f"epoch {epoch + 1}/{epochs} lr {lr:.2e} loss {hist['loss'][-1]:.4f} | val {short(val)}"
              f"{' *' if bad == 0 else ''}", flush=True)
        if preset.recipe.early_stopping and bad >= preset.recipe.patience:
            print(f"early stop: no val UAR gain in {preset.recipe.patience} epochs", flush=True)
            break
    if preset.recipe.early_stopping and best is not None:
        head.set_weights(best)
    return head, history, best_epoch


def run_encoder(preset: Preset, protocol: str, fold: int, epochs: int | None, out: Path, data_root: Path,
                cache_dir: Path, reports: Path | None = None, threads: int = 2) -> dict:
    """One split of an encoder preset to completion (a finished folder is kept), then its report."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / "metrics.json").exists():
        print(f"{out} is complete; metrics.json kept (delete the folder to retrain)", flush=True)
        metrics = json.loads((out / "metrics.json").read_text())
    else:
        if protocol == "random-full":
            raise ValueError("random-full refits are for the hybrid family; encoder heads train in minutes "
                             "on `random` with early stopping")
        from speechsense.training.encoder.head import layer_weights
        from speechsense.training.loop import predict

        epochs = epochs or preset.recipe.epochs
        data = prepare_stats(preset, protocol, fold, data_root, cache_dir, threads)
        t0 = time.time()
        head, history, best_epoch = train_head(preset, data, epochs, preset.seed + fold)
        val = evaluate(predict(head, _keep_layers(preset, data.x_val)), data.y_val)
        test = evaluate(predict(head, _keep_layers(preset, data.x_test)), data.y_test)
        metrics = _write_run(preset, protocol, fold, out, head, data, history, best_epoch, val, test,
                             time.time() - t0, layer_weights(head).tolist())
        print(f"TEST {preset.name} / {data.split.name}: {short(test)}", flush=True)
    if reports is not None:
        publish(out, reports)
    return metrics


def _write_run(preset: Preset, protocol: str, fold: int, out: Path, head, data: StatsData, history: list,
               best_epoch: int, val: dict, test: dict, seconds: float, mix: list[float]) -> dict:
    head.save(out / "head.keras")
    cfg = preset.features
    identity = Normalizer(np.zeros(cfg.n_features, np.float32), np.ones(cfg.n_features, np.float32))
    (out / "normalizer.json").write_text(identity.to_json())  # log-mel goes in unscaled; the head standardises
    (out / "feature_config.json").write_text(cfg.to_json())
    write_json(out / "preset.json", preset.to_dict())
    split = {"name": data.split.name, "n_train": len(data.split.train), "n_val": len(data.split.val),
             "n_test": len(data.split.test), "test_speakers": list(data.split.test_speakers),
             "val_speakers": list(data.split.val_speakers)}
    metrics = {"preset": preset.name, "family": "encoder", "encoder": preset.recipe.encoder, "protocol": protocol,
               "fold": fold, "split": split, "epochs_run": len(history), "max_epochs": preset.recipe.epochs,
               "best_epoch": best_epoch, "kept": "best" if preset.recipe.early_stopping else "last",
               "skipped_files": data.skipped, "val_in_training": False, "training_seconds": seconds,
               "layer_weights": mix, "val": val, "test": test, "history": history}
    plot_curves(history, out / "curves.png")
    plot_confusion(test["confusion"], f"{preset.name} / {data.split.name} test", out / "confusion_test.png")
    plot_confusion(val["confusion"], f"{preset.name} / {data.split.name} val", out / "confusion_val.png")
    write_json(out / "metrics.json", metrics)
    return metrics
