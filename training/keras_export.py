"""`speechsense-export keras`: a finished Keras run (hybrid or encoder + MLP head) to a self-describing ONNX
model, parity-checked against Keras on the run's real test windows, with its export.json and card.

Conversion, parity and quantisation are shared; what differs per family (the graph to convert, the metadata
that names it, the commands behind it, the card) comes from the family object, a KerasFamily.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from speechsense.features import FeatureConfig, Normalizer
from speechsense.labels import LABELS
from speechsense.modelmeta import ModelMetadata
from speechsense.training.cards import references
from speechsense.training.onnx_export import (
    ParityError,
    attach_metadata,
    check_parity,
    evaluate_quantized,
    keras_to_onnx,
    quantize,
    read_metadata,
    run_onnx,
    session,
)

PROTOCOL_TEXT = {
    "random": "random (stratified 80/10/10, seed 42); speaker figures: 5-fold by RAVDESS actor",
    "random-full": "random-full (trained on the train + validation clips of random, stratified 80/10/10, seed 42; "
                   "tested on its test clips); speaker figures: 5-fold by RAVDESS actor",
}
FIGURES = ("accuracy", "uar", "macro_f1", "cross_entropy", "n")


@dataclass(frozen=True)
class KerasExport:
    """speechsense-export keras's options; every output path is given, none defaults to a shipped file."""

    run: Path
    out: Path
    card: Path
    reports: Path
    cache: Path
    speaker_runs: Path | None = None
    model_name: str = "speechsense-hybrid"
    model_version: str = "1.0.0"
    hop: float = 1.0
    data_root: Path | None = None
    quantize: bool = False
    ship_int8: bool = False
    argv: tuple[str, ...] = ()  # the command line, quoted in the card's commands


class KerasFamily(Protocol):
    """The family hooks keras export calls."""

    def model_fields(self, run: Path) -> dict: ...  # training_data and ModelMetadata's family fields

    def load_model(self, run: Path): ...  # the whole Keras graph, features -> probabilities

    def reproduce(self, options: KerasExport, speaker_dir: Path) -> list[str]: ...

    def render_card(self, run: Path, report: dict, metadata, reports_root: Path, commands: list[str]) -> str: ...


def speaker_metrics(folder: Path) -> dict:
    """Summary of the measured speaker folds; SystemExit when none is measured (never invented)."""
    from speechsense.training.report import summarise_folds
    from speechsense.training.splits import SPEAKER_FOLDS

    done = [json.loads(f.read_text()) for f in sorted(folder.glob("fold*/metrics.json"))]
    if not done:
        raise SystemExit(f"no measured speaker fold under {folder}: train them first "
                         "(speechsense-train --protocol speaker); export never invents figures")
    s = summarise_folds(done)
    return {**{k: v for k, v in s.items() if k != "per_fold"}, "n_folds": SPEAKER_FOLDS,
            "complete": len(done) == SPEAKER_FOLDS, "per_fold": s["per_fold"]}


def random_metrics(run: Path, reports: Path) -> dict:
    """Test figures of the random-protocol run; for a random-full refit, also those of the random run beside
    it (same recipe and test clips, trained on the train clips only), which chose the refit's epochs."""
    m = json.loads((run / "metrics.json").read_text())
    out = {k: m["test"][k] for k in FIGURES} | {
        "protocol": m["protocol"], "best_epoch": m["best_epoch"], "epochs_run": m["epochs_run"],
        "study_accuracy": references(reports)["study"]["accuracy"]}
    chosen = run.parent / "random"
    if m["protocol"] == "random-full" and _refitted_from(run, chosen):
        out["chosen_run"] = {k: json.loads((chosen / "metrics.json").read_text())["test"][k] for k in FIGURES}
    return out


def _refitted_from(refit: Path, chosen: Path) -> bool:
    """Whether every network of the refit stopped at the epoch the same network of `chosen` kept."""
    from speechsense.training.hybrid.refit import kept_epoch

    def networks(run: Path) -> list[Path]:
        return sorted(run.glob("member*/metrics.json")) or [run / "metrics.json"]

    mine, theirs = networks(refit), networks(chosen)
    if len(mine) != len(theirs) or not all(p.is_file() for p in theirs):
        return False
    return all(json.loads(a.read_text())["epochs_run"] == kept_epoch(json.loads(b.read_text()))
               for a, b in zip(mine, theirs, strict=True))


def test_windows(run: Path, config: FeatureConfig, normalizer: Normalizer, data_root: Path | None,
                 cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run's standardised test windows, labels and corpus names (the seeded split is the same one)."""
    from speechsense.labels import label_index
    from speechsense.training.augment import Variant
    from speechsense.training.corpora import default_data_root, load_manifest
    from speechsense.training.featstore import FeatureStore
    from speechsense.training.splits import make_split

    meta = json.loads((run / "metrics.json").read_text())
    preset = json.loads((run / "preset.json").read_text())
    clips = load_manifest(data_root or default_data_root(), cache / "manifest.json").clips
    split = make_split(clips, meta["protocol"], meta["fold"], preset["seed"])
    paths = [clips[i].path for i in split.test]
    y = np.array([label_index(clips[i].label) for i in split.test])
    corpora = np.array([clips[i].corpus for i in split.test])
    return normalizer.apply(FeatureStore(cache / "features", config).get(paths, Variant())), y, corpora


test_windows.__test__ = False  # a helper named test_*, not a test


def export(model, metadata: ModelMetadata, out: Path, windows: np.ndarray) -> dict:
    """Convert, attach metadata, save, reload through ONNX Runtime and check parity; ParityError on failure."""
    import onnx

    from speechsense.training.loop import predict

    cfg = metadata.feature_config
    proto = attach_metadata(keras_to_onnx(model, cfg.frames, cfg.n_features), metadata)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))
    read_metadata(out)  # the server's own check
    parity = check_parity(predict(model, windows), run_onnx(session(out), windows))
    print(parity.describe(), flush=True)
    if not parity.ok:
        raise ParityError(f"{out}: {parity.describe()} (tolerance 1e-4, no argmax difference)")
    return {"n_windows": parity.n_windows, "max_abs_diff": parity.max_abs_diff,
            "mean_abs_diff": parity.mean_abs_diff, "argmax_mismatches": parity.argmax_mismatches}


def _quantisation(options: KerasExport, x: np.ndarray, y: np.ndarray, report: dict) -> None:
    """Measure int8; keep it beside the run, or ship it at --out with --ship-int8, when it qualifies."""
    int8 = options.out.with_suffix(".int8.onnx")
    quantize(options.out, int8)
    report["quantization"] = q = evaluate_quantized(options.out, int8, x, y)
    print(f"int8: {q}", flush=True)
    if q["keep"] and options.ship_int8:  # the shipped file is the int8 one; fp32 stays beside the run
        options.out.replace(options.run / "model.fp32.onnx")
        int8.replace(options.out)
        report["shipped"] = "int8"
    elif q["keep"]:  # qualifies; kept beside the run, the bundled model stays the parity-checked fp32
        int8.replace(options.run / "model.int8.onnx")
    else:
        int8.unlink()


def export_run(options: KerasExport, family: KerasFamily) -> int:
    """The whole keras export: model file, export.json (its commands included), reports and card."""
    from speechsense.training.loop import limit_threads
    from speechsense.training.report import publish, write_json

    limit_threads(2)
    run = options.run
    preset = json.loads((run / "preset.json").read_text())
    config = FeatureConfig.from_json((run / "feature_config.json").read_text())
    normalizer = Normalizer.from_json((run / "normalizer.json").read_text(), config.n_features)
    speaker_dir = options.speaker_runs or run.parent / "speaker"
    protocol = json.loads((run / "metrics.json").read_text())["protocol"]
    if protocol not in PROTOCOL_TEXT:
        raise SystemExit(f"{run} is a {protocol!r} run; export takes a run of {' or '.join(PROTOCOL_TEXT)}")
    metrics = {"random": random_metrics(run, options.reports), "speaker": speaker_metrics(speaker_dir)}
    fields = family.model_fields(run)
    training_data = fields.pop("training_data")
    metadata = ModelMetadata(LABELS, config, normalizer, options.model_name, options.model_version, preset["name"],
                             training_data, PROTOCOL_TEXT[protocol], metrics, options.hop, **fields)
    model = family.load_model(run)
    x, y, corpora = test_windows(run, config, normalizer, options.data_root, options.cache)
    report = {"parity": export(model, metadata, options.out, x), "metrics": metrics,
              "parameters": int(model.count_params())}
    hit = run_onnx(session(options.out), x).argmax(1) == y
    report["onnx_test_accuracy"] = float(hit.mean())
    report["onnx_test_accuracy_by_corpus"] = {c: float(hit[corpora == c].mean()) for c in sorted(set(corpora))}
    if options.quantize:
        _quantisation(options, x, y, report)
    report["commands"] = commands = family.reproduce(options, speaker_dir)
    write_json(run / "export.json", report)
    publish(run, options.reports / preset["name"] / metrics["random"]["protocol"])
    if options.ship_int8 and not report["quantization"]["keep"]:  # measured and recorded, not shipped
        raise SystemExit(f"int8 model does not qualify to ship (the fp32 model stays at {options.out}): "
                         f"{report['quantization']}")
    options.card.parent.mkdir(parents=True, exist_ok=True)
    options.card.write_text(family.render_card(run, report, metadata, options.reports, commands))
    shipped = report.get("shipped", "fp32")
    accuracy = report["quantization"]["int8_accuracy"] if shipped == "int8" else report["onnx_test_accuracy"]
    print(f"wrote {options.out} ({shipped}, {options.out.stat().st_size / 1e6:.2f} MB); its ONNX test accuracy "
          f"{accuracy:.4f}", flush=True)
    return 0
