"""A feature-input model file re-exported with its front-end inside the graph: prepared PCM in, probabilities out.

The source graph is kept node for node (int8 weights, calibration inputs and the head_input output included);
its "features" input becomes the output of export/frontend_graph.py's nodes, fed by a new first input
"waveform" (batch, window_samples). Trimming and padding stay outside (metadata "waveform_preparation").

    speechsense-export --waveform models/speechsense-hybrid.onnx --out /tmp/hybrid.onnx
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from speechsense.export.frontend_graph import frontend_model, frontend_nodes
from speechsense.features import compute_features, prepare_window
from speechsense.modelmeta import (
    BASELINE_INPUT,
    PROBABILITIES_OUTPUT,
    PROFILE_HEAD_INPUT,
    PROFILE_VERSIONS_KEY,
    WAVEFORM_INPUT,
    ModelMetadata,
)

FEATURES = "frontend/features"
# Largest front-end difference allowed, as a fraction of each feature's range over the parity windows; the
# bundled hybrid's worst is 7.2e-4 (a spectral-contrast band; reports/waveform-speechsense-hybrid.json).
FEATURE_TOLERANCE = 2e-3
PROBABILITY_TOLERANCE = 1e-3


class WaveformExportError(ValueError):
    """The source cannot be wrapped, or the wrapped graph disagrees with the Python front-end."""


def metadata_of(model: onnx.ModelProto, source: str = "model") -> ModelMetadata:
    return ModelMetadata.from_props({p.key: p.value for p in model.metadata_props}, source)


def to_waveform(source: onnx.ModelProto, version: str, name: str = "model") -> onnx.ModelProto:
    """The source graph behind the front-end of its own metadata; metadata gains model_input=waveform and
    the new version."""
    meta = metadata_of(source, name)
    if meta.model_input != "features":
        raise WaveformExportError(f"{name} already takes a waveform")
    model = onnx.ModelProto()
    model.CopyFrom(source)
    graph = model.graph
    old = graph.input[0].name
    for node in graph.node:
        for i, inp in enumerate(node.input):
            if inp == old:
                node.input[i] = FEATURES
    cfg = meta.feature_config
    nodes, inits = frontend_nodes(cfg, meta.normalizer, WAVEFORM_INPUT, FEATURES)
    kept = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + kept)
    graph.initializer.extend(inits)
    batch = graph.input[0].type.tensor_type.shape.dim[0].dim_param or "batch"
    graph.input[0].CopyFrom(helper.make_tensor_value_info(WAVEFORM_INPUT, TensorProto.FLOAT,
                                                          [batch, cfg.window_samples]))
    calibration = dict(meta.calibration)
    if calibration:  # the same head inputs as the source computes: its speaker profiles stay valid
        calibration[PROFILE_VERSIONS_KEY] = sorted({meta.model_version, *calibration.get(PROFILE_VERSIONS_KEY, [])})
    props = dataclasses.replace(meta, model_input="waveform", model_version=version,
                                calibration=calibration).to_props()
    extra = {p.key: p.value for p in source.metadata_props if p.key not in props}  # e.g. the head-input key
    del model.metadata_props[:]
    for key, value in (props | extra).items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model)
    return model


def evaluation_sets(data_root: Path, config, labels: tuple[str, ...]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Prepared windows and label indices (one window per clip) of the `random` protocol's test clips
    (seed 42, 400 clips) and of EmoDB when present: real windows for parity and accuracy."""
    from speechsense.audio import load_file
    from speechsense.training.corpora import load_manifest, scan_emodb
    from speechsense.training.splits import make_split

    clips = load_manifest(data_root, None).clips
    sets = {"random_test": [clips[i] for i in make_split(clips, "random").test]}
    with contextlib.suppress(FileNotFoundError):  # EmoDB is optional
        sets["emodb"] = scan_emodb(data_root).clips
    return {name: (np.stack([prepare_window(load_file(c.path, config.sample_rate), config) for c in chosen]),
                   np.array([labels.index(c.label) for c in chosen])) for name, chosen in sets.items()}


def _probabilities(session: ort.InferenceSession, inputs: np.ndarray, baseline: np.ndarray | None,
                   batch: int) -> np.ndarray:
    """Probabilities in batches; with a baseline (a calibrated file), odd rows are read against it by the
    profile head and even rows by the population head with none, so both heads are compared."""
    out = []
    for i in range(0, len(inputs), batch):
        chunk = inputs[i:i + batch]
        feeds = {session.get_inputs()[0].name: chunk}
        if baseline is not None:
            profile = ((np.arange(len(chunk)) + i) % 2).astype(np.float32)[:, None]
            feeds |= {BASELINE_INPUT: (baseline[None, :] * profile).astype(np.float32), PROFILE_HEAD_INPUT: profile}
        out.append(session.run([PROBABILITIES_OUTPUT], feeds)[0])
    return np.concatenate(out)


def _real_baseline(session: ort.InferenceSession, features: np.ndarray) -> np.ndarray | None:
    """A calibrated file's baseline made as a profile is (the mean head input of real windows); None otherwise."""
    if len(session.get_inputs()) == 1:
        return None
    size = session.get_inputs()[1].shape[1]
    zeros = {"baseline": np.zeros((len(features), size), np.float32),
             "profile_head": np.zeros((len(features), 1), np.float32)}
    return session.run(["head_input"], {session.get_inputs()[0].name: features} | zeros)[0].mean(axis=0)


def _uar(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def scores(probs: np.ndarray, y: np.ndarray, calibrated: bool) -> dict:
    """Accuracy and UAR of the uncalibrated rows (every row of an uncalibrated model), the argmax taken over the
    labels the set has (EmoDB has no calm and no surprise), as benchmarks/cross_corpus.py does."""
    rows = np.arange(len(y)) % 2 == 0 if calibrated else np.ones(len(y), bool)
    present = np.unique(y)
    pred = present[probs[rows][:, present].argmax(1)]
    return {"accuracy": float(np.mean(pred == y[rows])), "uar": _uar(y[rows], pred), "n": int(rows.sum())}


def _int8_activations(model: onnx.ModelProto) -> bool:
    return any(n.op_type == "DynamicQuantizeLinear" for n in model.graph.node)


def check_parity(source: onnx.ModelProto, wrapped: onnx.ModelProto,
                 sets: dict[str, tuple[np.ndarray, np.ndarray]], batch: int = 32) -> dict:
    """Front-end and end-to-end agreement of wrapped (on windows) with source (on the Python front-end), with
    both files' accuracy on each set; WaveformExportError beyond the tolerances or on any argmax change.

    A source with int8 activations (dynamic quantisation: one scale per call) disagrees with itself between
    batchings; its own batch-1 against batch-32 difference is measured too, and is the tolerance it is held to.
    """
    meta = metadata_of(source)
    cfg = meta.feature_config
    front, old, new = (ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
                       for m in (frontend_model(cfg, meta.normalizer), source, wrapped))
    windows = np.concatenate([w for w, _ in sets.values()])
    reference = np.concatenate([meta.normalizer.apply(compute_features(windows[i:i + batch], cfg))
                                for i in range(0, len(windows), batch)])
    got = np.concatenate([front.run(None, {"waveform": windows[i:i + batch]})[0]
                          for i in range(0, len(windows), batch)])
    baseline = _real_baseline(old, reference[:16])
    p_old, p_new = _probabilities(old, reference, baseline, batch), _probabilities(new, windows, baseline, batch)
    report = _feature_figures(cfg, reference, got) | {
        "probability_max_abs_diff": float(np.abs(p_new - p_old).max()),
        "argmax_changes": int((p_new.argmax(1) != p_old.argmax(1)).sum()),
        "both_heads_compared": baseline is not None, "batch": batch, "sets": {}}
    tolerance, allowed = PROBABILITY_TOLERANCE, 0
    if _int8_activations(source):
        p_one = _probabilities(old, reference, baseline, 1)
        own = {"probability_max_abs_diff": float(np.abs(p_one - p_old).max()),
               "argmax_changes": int((p_one.argmax(1) != p_old.argmax(1)).sum())}
        report["source_batch1_vs_batch"] = own
        tolerance, allowed = max(tolerance, own["probability_max_abs_diff"]), own["argmax_changes"]
    report |= {"probability_tolerance": tolerance, "argmax_changes_allowed": allowed}
    start = 0
    for name, (w, y) in sets.items():
        rows = slice(start, start + len(w))
        report["sets"][name] = {"source": scores(p_old[rows], y, baseline is not None),
                                "waveform": scores(p_new[rows], y, baseline is not None)}
        start += len(w)
    if (report["feature_max_diff_of_range"] > FEATURE_TOLERANCE or report["argmax_changes"] > allowed
            or report["probability_max_abs_diff"] > tolerance):
        raise WaveformExportError(f"waveform graph disagrees with the Python front-end: {report}")
    return report


def _feature_figures(cfg, reference: np.ndarray, got: np.ndarray) -> dict:
    span = np.maximum(reference.max(axis=(0, 1)) - reference.min(axis=(0, 1)), 1e-6)
    diff = np.abs(got - reference) / span
    worst = diff.max(axis=(0, 1))
    return {"windows": len(reference), "feature_max_abs_diff": float(np.abs(got - reference).max()),
            "feature_max_diff_of_range": float(worst.max()),
            "feature_worst_column": cfg.column_names()[int(worst.argmax())],
            "feature_p999_diff_of_range": float(np.quantile(diff, 0.999)),
            "feature_tolerance_of_range": FEATURE_TOLERANCE}
