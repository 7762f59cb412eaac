"""Ensemble presets: members trained on one split with different seeds, averaged in one Keras graph.

A run folder holds member<k>/ (each an ordinary run folder) and, once every member is finished,
the ensemble's own model.keras (input -> members -> mean of their probabilities), normalizer,
metrics and figures, so export and the server treat it like any single model.
"""

from __future__ import annotations

import json
from pathlib import Path

from speechsense.features import FeatureConfig, Normalizer
from speechsense.modelmeta import FEATURES_INPUT, PROBABILITIES_OUTPUT
from speechsense.training.data import prepare_data
from speechsense.training.hybrid.results import finish_files
from speechsense.training.hybrid.train import run_member
from speechsense.training.loop import predict
from speechsense.training.presets import Preset
from speechsense.training.report import evaluate, plot_confusion, publish, short, write_json


def combine(member_models: list, frames: int, n_features: int, adapters: list | None = None):
    """One model whose output "probabilities" is the mean of the members' probabilities; adapters[k],
    where given, feeds member k its own columns of the input (see ColumnAdapter)."""
    import keras

    inp = keras.Input(shape=(frames, n_features), name=FEATURES_INPUT)
    outs = []
    for k, m in enumerate(member_models):
        x = adapters[k](inp) if adapters and adapters[k] is not None else inp
        # Each member is wrapped under its own name: nested models must be uniquely named in one graph.
        outs.append(keras.Model(m.inputs, m.outputs[0], name=f"member{k}")(x))
    avg = keras.layers.Average(name=PROBABILITIES_OUTPUT)(outs)
    return keras.Model(inp, avg, name="ensemble")


def adapter_for(config: FeatureConfig, norm: Normalizer, member_dir: Path):
    """None when the member in member_dir was trained on config's features, else the ColumnAdapter
    that picks its columns and maps our standardisation (norm) onto the member's own."""
    from speechsense.training.hybrid.models import ColumnAdapter

    member_cfg = FeatureConfig.from_json((member_dir / "feature_config.json").read_text())
    if member_cfg == config:
        return None
    cols = config.columns_of(member_cfg)
    own = Normalizer.from_json((member_dir / "normalizer.json").read_text(), member_cfg.n_features)
    # x_member = (raw - own.mean) / own.std with raw = x * norm.std + norm.mean
    scale = norm.std[cols] / own.std
    shift = (norm.mean[cols] - own.mean) / own.std
    return ColumnAdapter(cols, scale, shift, name=f"{member_dir.name}_columns")


def run_ensemble(preset: Preset, protocol: str, fold: int, epochs: int | None, out: Path, data_root: Path,
                 cache_dir: Path, workers: int = 2, reports: Path | None = None,
                 members: list[int] | None = None, refit_from: Path | None = None) -> dict | None:
    """Train the requested members (all by default), then combine and report once all are finished."""
    for k in members if members is not None else range(preset.members):
        recipe, seed_index = preset.member(k)
        run_member(recipe, protocol, fold, epochs, out / f"member{k}", data_root, cache_dir, workers,
                   reports / f"member{k}" if reports else None, member=seed_index,
                   refit_from=refit_from / f"member{k}" if refit_from else None)
    missing = [k for k in range(preset.members) if not (out / f"member{k}" / "metrics.json").exists()]
    if missing:
        print(f"{out}: members {missing} not finished yet; the ensemble is combined when all are", flush=True)
        return None
    if (out / "metrics.json").exists():
        metrics = json.loads((out / "metrics.json").read_text())
    else:
        metrics = _combine_and_report(preset, protocol, fold, out, data_root, cache_dir, workers)
    if reports is not None:
        publish(out, reports)
    return metrics


def _combine_and_report(preset: Preset, protocol: str, fold: int, out: Path, data_root: Path, cache_dir: Path,
                        workers: int) -> dict:
    from speechsense.training.hybrid.models import load_model

    data = prepare_data(preset, protocol, fold, data_root, cache_dir, workers, augmented=False)
    cfg = preset.features
    dirs = [out / f"member{k}" for k in range(preset.members)]
    model = combine([load_model(d / "model.keras") for d in dirs], cfg.frames, cfg.n_features,
                    [adapter_for(cfg, data.normalizer, d) for d in dirs])
    val = evaluate(predict(model, data.x_val), data.y_val)
    test = evaluate(predict(model, data.x_test), data.y_test)
    member_metrics = [json.loads((out / f"member{k}" / "metrics.json").read_text()) for k in range(preset.members)]
    finish_files(model, data, preset, out)
    metrics = {"preset": preset.name, "protocol": protocol, "fold": fold,
               "split": member_metrics[0]["split"],
               "epochs_run": max(m["epochs_run"] for m in member_metrics),
               "max_epochs": max(m["max_epochs"] for m in member_metrics),
               "best_epoch": [m["best_epoch"] for m in member_metrics],
               "kept": "mean of members", "skipped_files": data.skipped,
               "val_in_training": protocol == "random-full",
               "training_seconds": sum(m["training_seconds"] for m in member_metrics),
               "members": [{"member": k, "preset": m["preset"], "best_epoch": m["best_epoch"],
                            "epochs_run": m["epochs_run"],
                            "val_uar": m["val"]["uar"], "test_accuracy": m["test"]["accuracy"],
                            "test_uar": m["test"]["uar"]}
                           for k, m in enumerate(member_metrics)],
               "val": val, "test": test, "history": []}
    plot_confusion(test["confusion"], f"{preset.name} / {data.split.name} test", out / "confusion_test.png")
    plot_confusion(val["confusion"], f"{preset.name} / {data.split.name} val", out / "confusion_val.png")
    write_json(out / "metrics.json", metrics)
    singles = ", ".join(f"{m['test']['accuracy']:.4f}" for m in member_metrics)
    print(f"TEST {preset.name} / {data.split.name}: {short(test)} (members' accuracy {singles})", flush=True)
    return metrics

