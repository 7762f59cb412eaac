"""Export of a `head = "linear"` run: the source encoder file's graph with the run's linear heads and the
speaker-baseline inputs (training/linear/graph.py), its metadata, a parity check and the file's own figures.

Parity: the new file, run end to end by ONNX Runtime on the `random` split's test clips, against the run's
heads applied in numpy to the source file's cached statistics of the same clips.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from speechsense.modelmeta import (
    BASELINE_INPUT,
    PROBABILITIES_OUTPUT,
    PROFILE_HEAD_INPUT,
    SESSION_RULE_KEY,
    ModelMetadata,
)
from speechsense.training.linear.graph import LinearHeads, build_calibrated
from speechsense.training.linear.heads import Heads, RoomGate
from speechsense.training.linear.headstats import model_meta

PARITY_TOLERANCE = 1e-4
PROTOCOL_TEXT = ("calibration: heads trained on the random split's train + validation clips (stratified "
                 "80/10/10, seed 42), scored on its test clips; speaker figures: 5-fold by RAVDESS actor with "
                 "each test speaker's enrolment clips (calm and neutral of one statement) never scored")


def load_heads(run: Path, name: str = "heads.npz") -> LinearHeads:
    """The run's heads; a gated mixture's room expert and detector where the file holds them."""
    with np.load(run / name) as h:
        gate = None if "gate_w" not in h else RoomGate(h["gate_w_u"], h["gate_b_u"], h["gate_w_c"], h["gate_b_c"],
                                                       h["gate_w"], float(h["gate_b"]))
        return LinearHeads(h["mean"], h["std"], h["w_u"], h["b_u"], h["w_c"], h["b_c"], gate)


def numpy_heads(h: LinearHeads) -> Heads:
    """The same heads as training's numpy Heads (a gated mixture included), for parity checks."""
    return Heads(h.mean, h.std, h.w_uncalibrated, h.b_uncalibrated, h.w_calibrated, h.b_calibrated, h.gate)


def linear_metrics(run: Path) -> dict:
    """Metadata metrics: the random split's figures, the speaker folds (uncalibrated, as every model reports
    them) and the whole calibration table."""
    m = json.loads((run / "metrics.json").read_text())
    spk = m["calibration"]["speaker"]
    return {"run_protocol": "calibration",
            "random": m["random"],
            "speaker": {"uar_mean": spk["uncalibrated"]["mean"], "uar_std": spk["uncalibrated"]["std"],
                        "accuracy_mean": spk["accuracy_uncalibrated"]["mean"],
                        "profile_uar_mean": spk["profile"]["mean"], "profile_uar_std": spk["profile"]["std"]},
            "emodb": m["calibration"].get("emodb", {}),
            "calibration": m["calibration"]}


def linear_metadata(run: Path, source: Path, name: str, version: str, hop: float) -> ModelMetadata:
    m = json.loads((run / "metrics.json").read_text())
    preset = json.loads((run / "preset.json").read_text())
    src = model_meta(source)
    calibration = {}
    if m["session_offered"]:
        calibration[SESSION_RULE_KEY] = {"prior_windows": preset["session_prior_windows"],
                                  "max_weight": preset["session_max_weight"]}
    # A waveform source (front-end in its graph) stays one: the new file takes what the source took.
    return ModelMetadata(src.labels, src.feature_config, src.normalizer, name, version, preset["name"],
                         src.training_data, PROTOCOL_TEXT, linear_metrics(run), hop, "encoder", src.encoder_name,
                         src.encoder_license, calibration, src.model_input)


def parity(out: Path, source: Path, run: Path, data_root: Path, cache: Path, heads: LinearHeads) -> dict:
    """The new file on the random test clips against numpy heads on the source file's statistics of the same
    batches (the int8 encoder quantises each call's activations with one scale, so a window's statistics
    depend slightly on its batch: both sides see the same ones); and the new file's own figures."""
    import onnxruntime as ort

    from speechsense.audio import load_file
    from speechsense.features import compute_features, prepare_window
    from speechsense.labels import label_index
    from speechsense.training.corpora import load_manifest
    from speechsense.training.linear.heads import uar
    from speechsense.training.linear.headstats import stats_session
    from speechsense.training.splits import make_split

    clips = load_manifest(data_root, cache / "manifest.json").clips
    test = [clips[i] for i in make_split(clips, "random").test]
    depth = json.loads((run / "preset.json").read_text()).get("depth") or 0
    cfg = model_meta(out).feature_config
    new = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    old = stats_session(source)
    got, expected = [], []
    for i in range(0, len(test), 16):
        windows = np.stack([prepare_window(load_file(c.path, cfg.sample_rate), cfg) for c in test[i:i + 16]])
        # A waveform source (export/waveform.py) computes the features in its graph: it takes the windows.
        feats, n = compute_features(windows, cfg), len(windows)
        first = windows if len(new.get_inputs()[0].shape) == 2 else feats
        got.append(new.run([PROBABILITIES_OUTPUT], {new.get_inputs()[0].name: first,
                                                    BASELINE_INPUT: np.zeros((n, heads.size), np.float32),
                                                    PROFILE_HEAD_INPUT: np.zeros((n, 1), np.float32)})[0])
        stats = old.run(None, {old.get_inputs()[0].name: windows if len(old.get_inputs()[0].shape) == 2 else feats})[0]
        stats = (stats[:, : depth + 1] if depth else stats).reshape(n, -1)
        logits = numpy_heads(heads).logits((stats - heads.mean) / heads.std)
        e = np.exp(logits - logits.max(1, keepdims=True))
        expected.append(e / e.sum(1, keepdims=True))
    got, expected = np.concatenate(got), np.concatenate(expected)
    y = np.array([label_index(c.label) for c in test])
    diff = np.abs(got - expected)
    return {"n_windows": len(test), "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
            "argmax_mismatches": int(np.sum(got.argmax(1) != expected.argmax(1))),
            "onnx_test_accuracy": float(np.mean(got.argmax(1) == y)), "onnx_test_uar": uar(y, got.argmax(1))}


def export_linear(run: Path, source: Path, out: Path, name: str, version: str, hop: float, data_root: Path,
                  cache: Path) -> dict:
    """Build, save (atomically: out may be the source), check parity; the report export.json holds."""
    heads = load_heads(run)
    src = model_meta(source)
    src_name = f"{src.model_name} {src.model_version}"  # read now: out may replace the source
    metadata = linear_metadata(run, source, name, version, hop)
    model = build_calibrated(onnx.load(str(source)), heads, metadata)
    tmp = out.with_suffix(".tmp.onnx")
    onnx.save(model, str(tmp))
    check = parity(tmp, source, run, data_root, cache, heads)
    print(f"parity on {check['n_windows']} real windows: max |diff| {check['max_abs_diff']:.2e}, argmax "
          f"mismatches {check['argmax_mismatches']}; ONNX test accuracy {check['onnx_test_accuracy']:.4f}", flush=True)
    if check["max_abs_diff"] > PARITY_TOLERANCE or check["argmax_mismatches"]:
        tmp.unlink()
        raise SystemExit(f"parity failed: {check}")
    tmp.replace(out)
    return {"parity": check, "source": src_name, "bytes": out.stat().st_size, "calibration_size": heads.size,
            "metrics": metadata.metrics}


def export_fold_models(run: Path, source: Path, out_dir: Path, name: str, version: str, hop: float) -> list[Path]:
    """One file per speaker fold (`fold{k}.onnx`) from the run's fold heads, for benchmarks that score each
    fold's test actors with the heads that never heard them (benchmarks/robustness.py --fold-models).
    Protocol `speaker-fold{k}` in each file's metadata says so; nothing here ships."""
    import dataclasses

    files = sorted(run.glob("heads-fold*.npz"))
    if not files:
        raise SystemExit(f"{run} holds no heads-fold*.npz: train it again with this version")
    out_dir.mkdir(parents=True, exist_ok=True)
    metadata = linear_metadata(run, source, name, version, hop)
    graph = onnx.load(str(source))
    written = []
    for k in range(len(files)):
        meta = dataclasses.replace(metadata, protocol=f"speaker-fold{k}")
        out = out_dir / f"fold{k}.onnx"
        onnx.save(build_calibrated(graph, load_heads(run, f"heads-fold{k}.npz"), meta), str(out))
        written.append(out)
    return written


@dataclass(frozen=True)
class LinearExport:
    """speechsense-export linear's options: the model file and its card, or the per-fold files; no default
    output, so no shipped file is overwritten unasked."""

    run: Path
    reports: Path
    cache: Path
    out: Path | None = None
    card: Path | None = None
    fold_models: Path | None = None
    source: Path | None = None
    model_name: str = "speechsense-hybrid"
    model_version: str = "1.0.0"
    hop: float = 1.0
    data_root: Path | None = None
    argv: tuple[str, ...] = ()  # the command line, quoted in the card's commands

    def __post_init__(self) -> None:
        if (self.out is None) == (self.fold_models is None):
            raise ValueError("linear export writes either --out (with --card) or --fold-models")
        if self.out is not None and self.card is None:
            raise ValueError("linear export --out needs --card: the model's card is written beside it")


def export_run(options: LinearExport) -> int:
    """The calibrated encoder model, its export.json (its commands included), reports and card; or the run's
    speaker-fold heads as per-fold files for benchmarks/robustness.py."""
    import shlex

    from speechsense.training.corpora import default_data_root
    from speechsense.training.linear.card import render_linear_card
    from speechsense.training.linear.train import stats_source
    from speechsense.training.onnx_export import read_metadata
    from speechsense.training.presets import get_preset
    from speechsense.training.report import publish, write_json

    run = options.run
    preset = get_preset(json.loads((run / "preset.json").read_text())["name"])
    source = options.source or stats_source(preset)
    if options.fold_models is not None:
        files = export_fold_models(run, source, options.fold_models, options.model_name, options.model_version,
                                   options.hop)
        print(f"wrote {len(files)} fold models to {options.fold_models}", flush=True)
        return 0
    report = export_linear(run, source, options.out, options.model_name, options.model_version, options.hop,
                           options.data_root or default_data_root(), options.cache)
    report["commands"] = commands = [f"speechsense-train --preset {preset.name} --protocol calibration",
                                     "speechsense-export " + shlex.join(options.argv)]
    write_json(run / "export.json", report)
    publish(run, options.reports / preset.name / "calibration")
    options.card.parent.mkdir(parents=True, exist_ok=True)
    options.card.write_text(render_linear_card(run, report, read_metadata(options.out), options.reports, commands))
    print(f"wrote {options.out} ({options.out.stat().st_size / 1e6:.2f} MB) and {options.card}", flush=True)
    return 0
