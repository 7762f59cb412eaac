"""The encoder model's card: its own measured figures, and both families side by side on the same protocols."""

from __future__ import annotations

import json
from pathlib import Path

from speechsense.labels import LABELS
from speechsense.training.cards import (
    REFERENCES,
    export_section,
    licence_section,
    load,
    noise_section,
    pct,
    references,
    reproduce_section,
    speaker_section,
)

HYBRID_PRESET = "improved-mix"  # the bundled hybrid's recipe; its reports are the hybrid column


def _speaker_recall(reports: Path, preset: str) -> dict[str, float] | None:
    """Per-emotion recall on new voices: each label's recall averaged over the measured speaker folds."""
    folds = [json.loads(f.read_text()) for f in sorted((reports / preset / "speaker").glob("fold*/metrics.json"))]
    if not folds:
        return None
    return {lab: sum(f["test"]["per_class_recall"][lab] for f in folds) / len(folds) for lab in LABELS}


def _family_rows(reports: Path, encoder_preset: str) -> list[str]:
    """random and speaker figures, per-emotion recall and EmoDB cross-corpus for both families."""
    def summary(preset: str) -> dict | None:
        return load(reports / preset / "speaker" / "summary.json")

    hyb_rnd = load(reports / HYBRID_PRESET / "random-full" / "metrics.json")
    enc_rnd = load(reports / encoder_preset / "random" / "metrics.json")
    hyb_spk, enc_spk = summary(HYBRID_PRESET), summary(encoder_preset)
    cross = load(reports / "cross_corpus.json") or {"rows": []}
    cc = {r.get("training_preset"): r for r in cross["rows"]}  # a row counts only for the preset it scored
    cols = [("hybrid 1.3.0 (`improved-mix`)", hyb_rnd, hyb_spk, _speaker_recall(reports, HYBRID_PRESET),
             cc.get(HYBRID_PRESET)),
            (f"encoder (`{encoder_preset}`)", enc_rnd, enc_spk, _speaker_recall(reports, encoder_preset),
             cc.get(encoder_preset))]

    def cell(fn, *parts):
        return " | ".join("-" if any(p is None for p in parts_) else fn(*parts_) for parts_ in zip(*parts,
                                                                                                    strict=True))

    rnd = [c[1] for c in cols]
    spk = [c[2] for c in cols]
    rec = [c[3] for c in cols]
    emo = [c[4] for c in cols]
    lines = ["| | " + " | ".join(c[0] for c in cols) + " |", "| --- |" + " --- |" * len(cols),
             "| `random` test accuracy (voices it trained on) | " + cell(lambda m: pct(m["test"]["accuracy"]), rnd)
             + " |",
             "| `random` test UAR | " + cell(lambda m: f"{m['test']['uar']:.3f}", rnd) + " |",
             "| **`speaker` UAR, 5 folds (new voices)** | "
             + cell(lambda s: f"**{s['uar_mean']:.3f} +- {s['uar_std']:.3f}**", spk) + " |",
             "| `speaker` accuracy | " + cell(lambda s: pct(s["accuracy_mean"]), spk) + " |",
             "| `speaker` UAR per fold | "
             + cell(lambda s: ", ".join(f"{f['uar']:.2f}" for f in s["per_fold"]), spk) + " |"]
    for lab in LABELS:
        lines.append(f"| `speaker` recall: {lab} | " + cell(lambda r, lab=lab: f"{r[lab]:.2f}", rec) + " |")
    lines += ["| EmoDB cross-corpus UAR, 6 emotions (German, never trained on) | "
              + cell(lambda r: f"{r['uar']:.3f}", emo) + " |",
              "| EmoDB cross-corpus accuracy | " + cell(lambda r: pct(r["accuracy"]), emo) + " |"]
    return lines


def _layer_weights(m: dict) -> str:
    w = m.get("layer_weights") or []
    return ", ".join(f"{i}: {x:.2f}" for i, x in enumerate(w))


def render_encoder_card(run: Path, report: dict, metadata, reports_root: Path, commands: list[str]) -> str:
    """The encoder model card's Markdown text."""
    m = json.loads((run / "metrics.json").read_text())
    preset = json.loads((run / "preset.json").read_text())
    rnd, spk = report["metrics"]["random"], report["metrics"]["speaker"]
    ref = references(reports_root)
    frozen, probe = ref["published_frozen_encoders"], ref["whisper_base_probe"]
    cfg = metadata.feature_config
    text = [
        f"# {metadata.model_name} {metadata.model_version}: speech emotion recognition (8 classes), encoder family",
        "",
        f"A pretrained speech encoder, {metadata.encoder_name} ({metadata.encoder_license}), kept frozen, with a "
        "small trained head, in one ONNX graph served by ONNX Runtime. Input `features`: Whisper's log-mel "
        f"(batch, {cfg.frames}, {cfg.n_features}), {cfg.window_seconds:g} s at {cfg.sample_rate} Hz, computed by "
        "the server's shared feature code; output `probabilities`: (batch, 8) in the order "
        f"{', '.join(metadata.labels)}. {report['parameters']:,} parameters in all.",
        "",
        *licence_section(metadata),
        "",
        "## Features and training",
        "",
        f"- Preset `{preset['name']}`: {preset['description']}",
        f"- Layer weights the head learnt (hidden state: weight): {_layer_weights(m)}.",
        f"- `random` run: {m['epochs_run']} epochs, best {m['best_epoch']} kept; "
        f"{m['training_seconds']:.0f} s for the head on 2 CPU cores (encoder statistics cached beforehand).",
        "",
        "## Measured figures, both families",
        "",
        "Same protocols, same folds, same test clips as the hybrid (`random`: stratified 80/10/10, seed 42; "
        "`speaker`: 5 folds over RAVDESS actors 1-20, 2 male + 2 female test actors per fold, TESS in training "
        "only). The hybrid column is the bundled hybrid's recipe.",
        "",
        *_family_rows(reports_root, preset["name"]),
        "",
        f"This model on `random`: accuracy {pct(rnd['accuracy'])} (study: {pct(ref['study']['accuracy'])}), UAR "
        f"{rnd['uar']:.3f}; ONNX Runtime on the same test windows: {pct(report['onnx_test_accuracy'])} ("
        + ", ".join(f"{c} {pct(a)}" for c, a in report["onnx_test_accuracy_by_corpus"].items()) + ").",
        "",
        "`speaker` protocol, this recipe:",
        "",
        *speaker_section(spk),
        "",
        f"Published with frozen encoders and small heads: UAR {frozen['wavlm_large_uar']:.2f} (WavLM-large) and "
        f"{frozen['whisper_large_v3_uar']:.3f} (Whisper-large-v3) on RAVDESS by actor (EmoBox, 2024); a linear "
        f"probe on Whisper base's mean-pooled layers gave {probe['speaker_uar_mean']:.3f} +- "
        f"{probe['speaker_uar_std']:.3f} on these folds (RAVDESS only). The EmoDB row is "
        "`benchmarks/cross_corpus.py` on the shipped file; a preset that trains on EmoDB gets no such row. "
        f"Comparison figures and their sources: `reports/{REFERENCES}`.",
        "",
        *export_section(report, converter="tf2onnx 1.17 `from_function`, opset 18"),
        *noise_section(run),
        "",
        "## Known limits",
        "",
        "- Acted speech; the only non-English check is EmoDB (German, acted).",
        "- 3 s windows: Whisper's positional table is cut to 150 positions (it was trained on 30 s).",
        "- Several times the hybrid's compute per window: README's capacity table gives both models' served "
        "speed, measured in one run (`benchmarks/capacity.py`).",
        "- The speaker figures are the Keras heads' on each fold (fp32); the int8 file's agreement with fp32 is "
        "measured on the `random` test windows above.",
        "",
        *reproduce_section(commands),
    ]
    return "\n".join(text)
