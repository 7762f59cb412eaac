"""A finished run's folder: the model and its preprocessing for export, metrics.json and the figures."""

from __future__ import annotations

from pathlib import Path

from speechsense.training.data import Data
from speechsense.training.loop import predict
from speechsense.training.presets import Preset
from speechsense.training.report import evaluate, plot_confusion, plot_curves, short, write_json


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
               "kept": "best" if preset.recipe.early_stopping else "last", "skipped_files": data.skipped,
               "val_in_training": protocol == "random-full",
               "training_seconds": sum(h["seconds"] for h in state["history"]),
               "val": val, "test": test, "history": state["history"]}
    plot_curves(state["history"], out / "curves.png")
    plot_confusion(test["confusion"], f"{preset.name} / {data.split.name} test", out / "confusion_test.png")
    plot_confusion(val["confusion"], f"{preset.name} / {data.split.name} val", out / "confusion_val.png")
    write_json(out / "metrics.json", metrics)
    print(f"TEST {preset.name} / {data.split.name}: {short(test)}", flush=True)
    return metrics
