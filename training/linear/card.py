"""The card of a calibrated encoder model (linear heads, speaker profiles): every figure read from its run's
metrics.json and export.json (copied to reports/<preset>/calibration/) and reports/references.json."""

from __future__ import annotations

import json
from pathlib import Path

from speechsense.calibration import session_rule
from speechsense.training.cards import (
    REFERENCES,
    licence_section,
    load,
    pct,
    references,
    reproduce_section,
    waveform_section,
)
from speechsense.training.linear.calibration_eval import SAFE_MAX_LOSS
from speechsense.training.robustness_card import robustness_section

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


PREVIOUS_PRESET = "whisper-base4-head"  # the head this model's replaced (speechsense-encoder 1.0.0)
PREVIOUS_LINEAR = "whisper-base4-linear-noisy"  # the linear heads encoder 1.1.0 and 1.2.0 shipped
EVAL_REPORT = "calibration_eval.json"  # benchmarks/calibration_eval.py --json


def previous_model(reports_root: Path, preset: str = "") -> list[str]:
    """The replaced heads' figures, where measured: the linear heads shipped before (when this card is of
    another preset), the MLP head's speaker folds, and the first file's EmoDB reading of these clips."""
    prev = load(reports_root / PREVIOUS_PRESET / "speaker" / "summary.json")
    ev = load(reports_root / EVAL_REPORT) or {}
    lines = []
    linear = load(reports_root / PREVIOUS_LINEAR / "calibration" / "metrics.json")
    if linear and preset != PREVIOUS_LINEAR:
        spk, emodb = linear["calibration"]["speaker"], linear["calibration"]["emodb"]
        lines.append(f"- The linear heads of encoder 1.1.0 and 1.2.0 (preset `{PREVIOUS_LINEAR}`, the same encoder "
                     f"and clips): speaker 5-fold UAR {spk['uncalibrated']['mean']:.3f} ± "
                     f"{spk['uncalibrated']['std']:.3f} uncalibrated, {spk['profile']['mean']:.3f} ± "
                     f"{spk['profile']['std']:.3f} with a profile; EmoDB {emodb['uncalibrated']:.3f} and "
                     f"{emodb['profile']:.3f}; `random` accuracy {pct(linear['random']['accuracy'])} "
                     f"(`reports/{PREVIOUS_LINEAR}/calibration/metrics.json`).")
    if prev:
        lines.append(f"- The MLP head it replaces (preset `{PREVIOUS_PRESET}`, on the same encoder): speaker 5-fold "
                     f"UAR {prev['uar_mean']:.3f} ± {prev['uar_std']:.3f} (every clip scored, enrolment clips "
                     "included).")
    for path, value in ev.get("compare", {}).items():
        lines.append(f"- `{Path(path).name}` as shipped, on the same EmoDB clips as the table: UAR {value:.3f} "
                     f"(`benchmarks/calibration_eval.py --compare`, `reports/{EVAL_REPORT}`).")
    return lines


def render_linear_card(run: Path, report: dict, metadata, reports_root: Path, commands: list[str]) -> str:
    """The card's Markdown text."""
    m = json.loads((run / "metrics.json").read_text())
    preset = json.loads((run / "preset.json").read_text())
    cal, rnd, par = m["calibration"], m["random"], report["parity"]
    session = session_rule(metadata.calibration)
    rule = session.name if session else None
    ref = references(reports_root)
    cfg = metadata.feature_config
    safe = ", ".join(f"`{r}`" for r in cal["safe_rules"]) or "none"
    return "\n".join([
        f"# {metadata.model_name} {metadata.model_version}: speech emotion recognition (8 classes), encoder family, "
        "speaker calibration",
        "",
        f"A pretrained speech encoder, {metadata.encoder_name} ({metadata.encoder_license}), frozen, with "
        + ("two pairs of linear heads (a clean and a room expert) mixed per window by a logistic detector of rooms"
           if preset.get("gate_clean_copies") else "two linear heads")
        + ", in one ONNX graph served by ONNX Runtime. Inputs: "
        + (f"`waveform`, one prepared window of PCM (batch, {cfg.window_samples}), from which the graph computes "
           if metadata.model_input == "waveform" else "`features`, ")
        + "Whisper's log-mel (batch, "
        f"{cfg.frames}, {cfg.n_features}), {cfg.window_seconds:g} s at {cfg.sample_rate} Hz; `baseline` (batch, "
        f"{report['calibration_size']}), a speaker's mean head input (zeros: none); `profile_head` (batch, 1), 1 "
        "where the profile head reads the row. Outputs: `probabilities` (batch, 8) in the order "
        f"{', '.join(metadata.labels)}; `head_input` (batch, {report['calibration_size']}), the standardised "
        "statistics a profile is the mean of. The encoder and its statistics are those of "
        f"{report['source']}, unchanged (int8 matrix products).",
        "",
        *licence_section(metadata),
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
        f"Session rules safe by measurement (mixed at least uncalibrated, one emotion at most {SAFE_MAX_LOSS:g} below "
        f"it, on both sets): {safe}. "
        + (f"Offered: `{rule}`." if rule else "Session calibration is **not offered** by this model."),
        "",
        f"`random` split (speakers shared between train and test; the uncalibrated head that ships): accuracy "
        f"{pct(rnd['accuracy'])} (study: {pct(ref['study']['accuracy'])}), UAR {rnd['uar']:.3f}; this file in "
        f"ONNX Runtime on the same {par['n_windows']} test windows: accuracy {pct(par['onnx_test_accuracy'])}, "
        f"UAR {par['onnx_test_uar']:.3f}.",
        "",
        "Parity with the heads in numpy on the source file's statistics of the same batches: max |diff| "
        f"{par['max_abs_diff']:.1e}, "
        f"{par['argmax_mismatches']} argmax changes. Comparison figures and their sources: `reports/{REFERENCES}`.",
        "",
        *previous_model(reports_root, preset["name"]),
        *waveform_section(metadata, reports_root),
        "",
        *robustness_section(metadata, reports_root),
        "## Known limits",
        "",
        "- Acted speech; the only non-English check is EmoDB (German, acted).",
        "- The int8 encoder quantises each inference call's activations with one scale (ONNX Runtime's dynamic "
        "quantisation), so a window's scores move slightly with the other windows of its batch, which the server "
        "fills from every open stream: readings are reproducible only at batch size 1 (`--max-batch 1`).",
        "- A profile belongs to one model version: a new version needs a new enrolment.",
        "- Rooms are simulated in training and in the robustness figures (synthetic coloured noise, babble of the "
        "corpora's own neutral clips, image-source rooms with a statistical tail, a filtered phone line): real "
        "rooms, codecs and microphones differ, and music or television in the room is not covered.",
        "- 3 s windows: Whisper's positional table is cut to 150 positions (it was trained on 30 s).",
        "",
        *reproduce_section(commands),
    ])
