"""The card of a calibrated encoder model (linear heads, speaker profiles): every figure read from its run's
metrics.json and export.json (copied to reports/<preset>/calibration/) and reports/references.json."""

from __future__ import annotations

import json
from pathlib import Path

from speechsense.export.card import REFERENCES, _pct, references

ROWS = (("uncalibrated", "uncalibrated"), ("profile", "with a speaker profile (enrolment)"))


def _cell(v) -> str:
    return f"{v['mean']:.3f} ± {v['std']:.3f}" if isinstance(v, dict) else f"{v:.3f}"


def calibration_table(cal: dict, rule: str | None) -> list[str]:
    """Item rows: uncalibrated, profile, each measured session rule (mixed, one emotion at a time)."""
    spk, emo = cal["speaker"], cal.get("emodb", {})
    lines = ["| reading | speaker 5-fold UAR (RAVDESS actors never heard) | EmoDB UAR (German, never heard) |",
             "| --- | --- | --- |"]
    for key, text in ROWS:
        lines.append(f"| {text} | {_cell(spk[key])} | {_cell(emo[key]) if key in emo else '-'} |")
    for name in cal["rules"]:
        mark = " (offered)" if name == rule else ""
        for mode, text in (("session_mixed", "mixed emotions"), ("session_one_emotion", "one emotion at a time")):
            key = f"{mode}@{name}"
            lines.append(f"| session `{name}`{mark}, {text} | {_cell(spk[key])} | "
                         f"{_cell(emo[key]) if key in emo else '-'} |")
    return lines


def render_linear_card(run: Path, report: dict, metadata, reports_root: Path, commands: list[str]) -> str:
    """The card's Markdown text."""
    m = json.loads((run / "metrics.json").read_text())
    preset = json.loads((run / "preset.json").read_text())
    cal, rnd, par = m["calibration"], m["random"], report["parity"]
    session = metadata.calibration.get("session")
    rule = f"prior{session['prior_windows']:g}-cap{session['max_weight']:g}" if session else None
    ref = references(reports_root)
    cfg = metadata.feature_config
    safe = ", ".join(f"`{r}`" for r in cal["safe_rules"]) or "none"
    return "\n".join([
        f"# {metadata.model_name} {metadata.model_version}: speech emotion recognition (8 classes), encoder family, "
        "speaker calibration",
        "",
        f"A pretrained speech encoder, {metadata.encoder_name} ({metadata.encoder_license}), frozen, with two linear "
        "heads, in one ONNX graph served by ONNX Runtime. Inputs: `features`, Whisper's log-mel (batch, "
        f"{cfg.frames}, {cfg.n_features}), {cfg.window_seconds:g} s at {cfg.sample_rate} Hz; `baseline` (batch, "
        f"{report['calibration_size']}), a speaker's mean head input (zeros: none); `profile_head` (batch, 1), 1 "
        "where the profile head reads the row. Outputs: `probabilities` (batch, 8) in the order "
        f"{', '.join(metadata.labels)}; `head_input` (batch, {report['calibration_size']}), the standardised "
        "statistics a profile is the mean of. The encoder and its statistics are those of "
        f"`{report['source']}`, unchanged (int8 matrix products).",
        "",
        "## Data and licences",
        "",
        f"- {metadata.training_data}.",
        "- The model inherits the corpora's **non-commercial terms** (RAVDESS CC BY-NC-SA 4.0, TESS CC BY-NC-ND "
        "4.0); the encoder weights themselves are MIT.",
        "",
        "## Heads and protocol",
        "",
        f"- Preset `{preset['name']}`: {preset['description']}",
        "- Enrolment, in every figure: each speaker's calm and neutral clips of one statement (RAVDESS statement "
        "01; TESS the first 10 neutral words; EmoDB the first 4 neutral clips) make the profile and are never "
        "scored; every row below scores the same clips. Training speakers are centred on their own enrolment for "
        "the profile head, as a new speaker is.",
        f"- Sessions are simulated per test speaker, {cal['session_windows']} windows long (clips repeat to fill "
        "it), each window read against the shrunk mean of the windows before it.",
        "",
        "## Measured figures",
        "",
        *calibration_table(cal, rule),
        "",
        f"Session rules safe by measurement (mixed at least uncalibrated, one emotion at most 0.03 below it, on both "
        f"sets): {safe}. "
        + (f"Offered: `{rule}`." if rule else "Session calibration is **not offered** by this model."),
        "",
        f"`random` split (speakers shared between train and test; the uncalibrated head that ships): accuracy "
        f"{_pct(rnd['accuracy'])} (study: {_pct(ref['study']['accuracy'])}), UAR {rnd['uar']:.3f}; this file in "
        f"ONNX Runtime on the same {par['n_windows']} test windows: accuracy {_pct(par['onnx_test_accuracy'])}, "
        f"UAR {par['onnx_test_uar']:.3f}.",
        "",
        f"Parity with the heads in numpy on the source file's statistics: max |diff| {par['max_abs_diff']:.1e}, "
        f"{par['argmax_mismatches']} argmax changes. Comparison figures and their sources: `reports/{REFERENCES}`.",
        "",
        "## Known limits",
        "",
        "- Acted speech; the only non-English check is EmoDB (German, acted).",
        "- A profile belongs to one model version: a new version needs a new enrolment.",
        "- 3 s windows: Whisper's positional table is cut to 150 positions (it was trained on 30 s).",
        "",
        "## Reproduce",
        "",
        "```",
        *commands,
        "```",
        "",
    ])
