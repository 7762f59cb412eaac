"""`speechsense-export`: a trained run folder to a self-describing ONNX model, parity-checked, with its card."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from speechsense.export.card import references, refresh_table, render
from speechsense.export.encoder_card import render_encoder_card
from speechsense.export.encoder_export import (
    encoder_metadata_fields,
    encoder_reproduce,
    is_encoder_run,
    load_encoder_model,
)
from speechsense.export.onnx_export import (
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
from speechsense.features import FeatureConfig, Normalizer
from speechsense.labels import LABELS
from speechsense.modelmeta import ModelMetadata

REPO = Path(__file__).resolve().parent.parent
TRAINING_DATA = ("RAVDESS speech, actors 1-20 (1,200 clips, CC BY-NC-SA 4.0) + TESS (2,800 clips, "
                 "CC BY-NC-ND 4.0); acted English speech; non-commercial use only")


PROTOCOL_TEXT = {
    "random": "random (stratified 80/10/10, seed 42); speaker figures: 5-fold by RAVDESS actor",
    "random-full": "random-full (trained on the train + validation clips of random, stratified 80/10/10, seed 42; "
                   "tested on its test clips); speaker figures: 5-fold by RAVDESS actor",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags, each explained in --help."""
    p = argparse.ArgumentParser(prog="speechsense-export", description=(
        "Convert a finished speechsense-train run to ONNX (opset 18, input 'features', output "
        "'probabilities'), embed its metadata and measured metrics, and check Keras/ONNX Runtime parity "
        "on the run's real test windows (fails above 1e-4 or on any argmax difference)."))
    p.add_argument("--run", type=Path, default=REPO / "runs" / "improved-mix" / "random",
                   help="random or random-full run folder holding model.keras, metrics.json, normalizer.json, "
                        "feature_config.json, preset.json (default runs/improved-mix/random: bundled model)")
    p.add_argument("--speaker-runs", type=Path, default=None,
                   help="speaker-protocol folder with fold<k>/metrics.json of the same recipe "
                        "(default runs/<preset>/speaker); every measured fold is summarised")
    p.add_argument("--out", type=Path, default=REPO / "models" / "speechsense-hybrid.onnx",
                   help="ONNX file to write (default models/speechsense-hybrid.onnx)")
    p.add_argument("--model-name", default="speechsense-hybrid", help="name stored in the metadata")
    p.add_argument("--model-version", default="1.0.0", help="version stored in the metadata")
    p.add_argument("--hop", type=float, default=1.0, help="default hop between windows in seconds (metadata)")
    p.add_argument("--data-root", type=Path, default=None,
                   help="corpora for the parity windows (default $SPEECHSENSE_DATA or ../shared/datasets)")
    p.add_argument("--cache", type=Path, default=REPO / "cache", help="manifest/feature cache (default cache/)")
    p.add_argument("--card", type=Path, default=REPO / "models" / "speechsense-hybrid.md",
                   help="model card to write from the measured figures (default models/speechsense-hybrid.md)")
    p.add_argument("--reports", type=Path, default=REPO / "reports",
                   help="committed run reports (<preset>/<protocol>/metrics.json, as speechsense-train copies "
                        "them) from which the card's preset table is built (default reports/)")
    p.add_argument("--refresh-card", action="store_true",
                   help="only rewrite the preset comparison table of --card from --reports (for a preset measured "
                        "after the model was exported); nothing is converted")
    p.add_argument("--quantize", action="store_true",
                   help="also measure int8 dynamic quantisation of MatMul/LSTM; the int8 model is kept as "
                        "<run>/model.int8.onnx only if faster and at most 0.5 points less accurate on the test "
                        "split (the file at --out stays the parity-checked fp32 model)")
    p.add_argument("--ship-int8", action="store_true",
                   help="with --quantize: when the int8 model qualifies, it becomes the file at --out (the fp32 "
                        "model, parity-checked against Keras first, is kept as <run>/model.fp32.onnx); for models "
                        "too large to commit as fp32. Fails when the int8 model does not qualify")
    p.add_argument("--linear-run", type=Path, default=None,
                   help="a finished `--protocol calibration` run of a linear-head preset: build the model from "
                        "--source's encoder and the run's heads, with speaker-calibration inputs (no Keras)")
    p.add_argument("--source", type=Path, default=None,
                   help="with --linear-run: the encoder model file the run's statistics came from (default: the "
                        "preset's stats_model)")
    p.add_argument("--fold-models", type=Path, default=None, metavar="DIR",
                   help="with --linear-run: write the run's speaker-fold heads as DIR/fold{k}.onnx (protocol "
                        "speaker-fold{k}) for benchmarks/robustness.py --fold-models, instead of the model")
    p.add_argument("--waveform", type=Path, default=None, metavar="SOURCE",
                   help="re-export the feature-input model file SOURCE with its front-end inside the graph "
                        "(input 'waveform': prepared PCM windows) to --out, parity-checked on 400 real windows "
                        "against the Python front-end; its card (--card) is rewritten with the figures")
    p.add_argument("--per-row-int8", action="store_true",
                   help="with --waveform: quantise an int8 source's activations per row (per frame) instead of per "
                        "call, so a window's scores no longer depend on the batch it shares (export/rowquant.py)")
    args = p.parse_args(argv)
    if args.fold_models is not None and args.linear_run is None:
        p.error("--fold-models needs --linear-run")
    if args.per_row_int8 and args.waveform is None:
        p.error("--per-row-int8 needs --waveform")
    if args.ship_int8 and not args.quantize:
        p.error("--ship-int8 needs --quantize")
    return args


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


FIGURES = ("accuracy", "uar", "macro_f1", "cross_entropy", "n")


def random_metrics(run: Path, reports: Path = REPO / "reports") -> dict:
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
    from speechsense.training.refit import kept_epoch

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


def reproduce(run: Path, speaker_dir: Path, version: str = "1.0.0") -> list[str]:
    """The commands that rebuild this model, its figures and this export (each resumes if interrupted)."""
    m = json.loads((run / "metrics.json").read_text())
    preset = m["preset"]
    random_epochs = f" --epochs {m['max_epochs']}" if m.get("max_epochs") else ""
    folds = [json.loads(f.read_text()) for f in sorted(speaker_dir.glob("fold*/metrics.json"))]
    fold_epochs = f" --epochs {folds[0]['max_epochs']}" if folds and folds[0].get("max_epochs") else ""
    rel = f"runs/{preset}/{m['protocol']}"
    refit = [f"speechsense-train --preset {preset} --protocol random-full"] if m["protocol"] == "random-full" else []
    return [f"speechsense-train --preset {preset} --protocol random{random_epochs}", *refit,
            f"speechsense-train --preset {preset} --protocol speaker --fold all{fold_epochs}",
            f"speechsense-export --run {rel} --model-version {version} --quantize",
            f"python benchmarks/noise_eval.py --json {rel}/noise.json && "
            f"speechsense-export --run {rel} --model-version {version} --quantize"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of speechsense-export."""
    args = parse_args(argv)
    if args.refresh_card:
        refresh_table(args.card, args.reports)
        print(f"refreshed the preset table of {args.card} from {args.reports}", flush=True)
        return 0
    if args.linear_run is not None:
        return main_linear(args, argv)
    if args.waveform is not None:
        from speechsense.export.waveform_main import main_waveform

        return main_waveform(args, sys.argv[1:] if argv is None else argv)
    from speechsense.training.loop import limit_threads

    limit_threads(2)
    from speechsense.training.models import load_model
    from speechsense.training.report import publish

    preset = json.loads((args.run / "preset.json").read_text())
    config = FeatureConfig.from_json((args.run / "feature_config.json").read_text())
    normalizer = Normalizer.from_json((args.run / "normalizer.json").read_text(), config.n_features)
    speaker_dir = args.speaker_runs or args.run.parent / "speaker"
    protocol = json.loads((args.run / "metrics.json").read_text())["protocol"]
    if protocol not in PROTOCOL_TEXT:
        raise SystemExit(f"{args.run} is a {protocol!r} run; export takes a run of {' or '.join(PROTOCOL_TEXT)}")
    metrics = {"random": random_metrics(args.run, args.reports), "speaker": speaker_metrics(speaker_dir)}
    encoder = is_encoder_run(args.run)
    family = encoder_metadata_fields(args.run) if encoder else {"training_data": TRAINING_DATA}
    training_data = family.pop("training_data")
    metadata = ModelMetadata(LABELS, config, normalizer,
                             args.model_name, args.model_version, preset["name"], training_data,
                             PROTOCOL_TEXT[protocol],
                             metrics, args.hop, **family)
    model = load_encoder_model(args.run) if encoder else load_model(args.run / "model.keras")
    x, y, corpora = test_windows(args.run, config, normalizer, args.data_root, args.cache)
    report = {"parity": export(model, metadata, args.out, x), "metrics": metrics,
              "parameters": int(model.count_params())}
    hit = run_onnx(session(args.out), x).argmax(1) == y
    report["onnx_test_accuracy"] = float(hit.mean())
    report["onnx_test_accuracy_by_corpus"] = {c: float(hit[corpora == c].mean()) for c in sorted(set(corpora))}
    if args.quantize:
        int8 = args.out.with_suffix(".int8.onnx")
        quantize(args.out, int8)
        report["quantization"] = q = evaluate_quantized(args.out, int8, x, y)
        print(f"int8: {q}", flush=True)
        if q["keep"] and args.ship_int8:  # the shipped file is the int8 one; fp32 stays beside the run
            args.out.replace(args.run / "model.fp32.onnx")
            int8.replace(args.out)
            report["shipped"] = "int8"
        elif q["keep"]:  # qualifies; kept beside the run, the bundled model stays the parity-checked fp32
            int8.replace(args.run / "model.int8.onnx")
        else:
            int8.unlink()
    (args.run / "export.json").write_text(json.dumps(report, indent=1))
    publish(args.run, args.reports / preset["name"] / metrics["random"]["protocol"])
    if args.ship_int8 and not report["quantization"]["keep"]:  # measured and recorded, not shipped
        raise SystemExit(f"int8 model does not qualify to ship (the fp32 model stays at {args.out}): "
                         f"{report['quantization']}")
    commands = (encoder_reproduce(args.run, sys.argv[1:] if argv is None else argv) if encoder
                else reproduce(args.run, speaker_dir, args.model_version))
    card = render_encoder_card if encoder else render
    args.card.write_text(card(args.run, report, metadata, args.reports, commands))
    shipped = report.get("shipped", "fp32")
    accuracy = report["quantization"]["int8_accuracy"] if shipped == "int8" else report["onnx_test_accuracy"]
    print(f"wrote {args.out} ({shipped}, {args.out.stat().st_size / 1e6:.2f} MB); its ONNX test accuracy "
          f"{accuracy:.4f}", flush=True)
    return 0


def main_linear(args: argparse.Namespace, argv: list[str] | None) -> int:
    """--linear-run: the calibrated encoder model, its export.json, reports and card."""
    import shlex

    from speechsense.export.linear import export_linear
    from speechsense.export.linear_card import render_linear_card
    from speechsense.training.corpora import default_data_root
    from speechsense.training.linear_train import stats_source
    from speechsense.training.presets import PRESETS
    from speechsense.training.report import publish, write_json

    preset = PRESETS[json.loads((args.linear_run / "preset.json").read_text())["name"]]
    source = args.source or stats_source(preset)
    if args.fold_models is not None:
        from speechsense.export.linear import export_fold_models

        files = export_fold_models(args.linear_run, source, args.fold_models, args.model_name, args.model_version,
                                   args.hop)
        print(f"wrote {len(files)} fold models to {args.fold_models}", flush=True)
        return 0
    report = export_linear(args.linear_run, source, args.out, args.model_name, args.model_version, args.hop,
                           args.data_root or default_data_root(), args.cache)
    write_json(args.linear_run / "export.json", report)
    publish(args.linear_run, args.reports / preset.name / "calibration")
    commands = [f"speechsense-train --preset {preset.name} --protocol calibration",
                "speechsense-export " + shlex.join(sys.argv[1:] if argv is None else argv)]
    args.card.write_text(render_linear_card(args.linear_run, report, read_metadata(args.out), args.reports,
                                            commands))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) and {args.card}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
