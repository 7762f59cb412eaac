"""Training a `head = "linear"` preset: linear heads on a bundled encoder file's own statistics.

The statistics are those the model file computes (its int8 encoder included), so the figures here are
the exported file's own. One run measures everything the card reports (protocol "calibration"):

- the speaker 5-fold and EmoDB table of training/linear/calibration_eval.py (uncalibrated, profile, session);
- the heads that ship: trained on the `random` split's train + validation clips, scored on its test clips.

The run folder holds metrics.json and heads.npz; export builds the model file from them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from speechsense.calibration import SessionRule
from speechsense.training.corpora import load_manifest, scan_emodb
from speechsense.training.linear.calibration_eval import evaluate, random_split_figures, safe_rules
from speechsense.training.linear.headstats import HeadStats
from speechsense.training.linear.room_eval import condition_stats, format_room_table, ravdess_rows, room_table
from speechsense.training.presets import Preset
from speechsense.training.report import publish, write_json

log = logging.getLogger(__name__)
SESSION_WINDOWS = 300  # simulated session length: 5 minutes at the default 1 s hop


def stats_source(preset: Preset) -> Path:
    """The model file whose statistics the preset's heads read: a bundled family name or a path."""
    from speechsense.models import resolve_model

    return resolve_model(preset.recipe.stats_model)


CANDIDATE_CAPS = (0.05, 0.1, 0.2, 0.5)


def candidate_rules(preset: Preset) -> list[SessionRule]:
    """Session rules to measure: the preset's prior at several caps (the preset's own cap among them)."""
    caps = sorted(set(CANDIDATE_CAPS) | ({preset.recipe.session_max_weight} - {0.0}))
    return [SessionRule(preset.recipe.session_prior_windows, cap) for cap in caps]


def _flat(preset: Preset, stats: np.ndarray) -> np.ndarray:
    stats = stats[:, : preset.recipe.depth + 1] if preset.recipe.depth else stats
    return stats.reshape(len(stats), -1).astype(np.float64)


def load_stats(preset: Preset, data_root: Path, cache: Path, threads: int = 2):
    """(clips, flattened stats, EmoDB clips, their stats, augmented copies of the clips' stats) from the
    preset's model file; babble for room copies is drawn from data_root."""
    clips = load_manifest(data_root, cache / "manifest.json").clips
    emodb = scan_emodb(data_root).clips
    source = stats_source(preset)
    both = _flat(preset, HeadStats(source, cache / "headstats", threads).get([c.path for c in clips + emodb]))
    augment = replace(preset.augment, babble_root=str(data_root)) if preset.augment.needs_babble else preset.augment
    copies = [_flat(preset, HeadStats(source, cache / "headstats", threads, variant=v).get([c.path for c in clips]))
              for v in augment.variants()]
    return clips, both[: len(clips)], emodb, both[len(clips):], copies


def _save_heads(path: Path, heads) -> None:
    """heads.npz: the standardisation and heads, and a gated mixture's room expert and detector (gate_*)."""
    g = heads.gate
    gate = {} if g is None else {"gate_w_u": g.w_u, "gate_b_u": g.b_u, "gate_w_c": g.w_c, "gate_b_c": g.b_c,
                                 "gate_w": g.w, "gate_b": np.float32(g.b)}
    np.savez(path, mean=heads.mean, std=heads.std, w_u=heads.w_u, b_u=heads.b_u, w_c=heads.w_c, b_c=heads.b_c,
             **gate)


def robustness_table(preset: Preset, clips, x, emodb, xe, fitted: dict, data_root: Path, cache: Path,
                     threads: int) -> dict:
    """The fitted fold and EmoDB heads on every benchmark condition of the held-out clips."""
    source = stats_source(preset)

    def stats_of(paths: list[str]) -> dict[str, np.ndarray]:
        return condition_stats(source, paths, data_root, cache, lambda s: _flat(preset, s), threads)

    rav_stats = stats_of([clips[i].path for i in ravdess_rows(clips)])
    emodb_stats = stats_of([c.path for c in emodb]) if emodb else {}
    return room_table(fitted["folds"], fitted.get("emodb"), clips, x, rav_stats, emodb, xe, emodb_stats)


def run_linear(preset: Preset, out: Path, data_root: Path, cache: Path, reports: Path | None = None,
               threads: int = 2) -> dict:
    """Measure the calibration table and fit the shipped heads; a finished folder is kept."""
    if preset.recipe.balance_corpora:
        raise ValueError(f"preset {preset.name!r}: balance_corpora is measured on the corpus protocol only")
    out.mkdir(parents=True, exist_ok=True)
    if (out / "metrics.json").exists():
        print(f"{out} is complete; metrics.json kept (delete the folder to retrain)", flush=True)
        return json.loads((out / "metrics.json").read_text())
    clips, x, emodb, xe, copies = load_stats(preset, data_root, cache, threads)
    rules = candidate_rules(preset)
    fitted: dict = {}
    gate = preset.recipe.gate_clean_copies or None
    table = evaluate(x, clips, xe, emodb, rules, SESSION_WINDOWS, preset.recipe.linear_c, copies, heads_out=fitted,
                     clean_copies=gate)
    robustness = robustness_table(preset, clips, x, emodb, xe, fitted, data_root, cache, threads)
    table["safe_rules"] = safe_rules(table)
    offered = False
    if preset.recipe.session_max_weight:  # offered only where safe by measurement, whatever the preset asks
        chosen = SessionRule(preset.recipe.session_prior_windows, preset.recipe.session_max_weight).name
        offered = chosen in table["safe_rules"]
        if not offered:
            log.warning("preset %s: its session rule %s is not safe by measurement (safe: %s): not offered",
                        preset.name, chosen, table["safe_rules"] or "none")
    heads, rnd = random_split_figures(x, clips, preset.recipe.linear_c, copies, gate)
    _save_heads(out / "heads.npz", heads)
    for k, (fold, _) in enumerate(fitted["folds"]):  # for per-fold model files (export linear --fold-models)
        _save_heads(out / f"heads-fold{k}.npz", fold)
    metrics = {"preset": preset.name, "family": "encoder", "head": "linear", "protocol": "calibration",
               "stats_model": str(stats_source(preset).name), "calibration": table,
               "random": rnd | {"protocol": "random"},
               "session_offered": offered, "robustness": robustness}
    write_json(out / "metrics.json", metrics)
    write_json(out / "preset.json", preset.to_dict())
    spk = table["speaker"]
    print("speaker folds UAR: " + ", ".join(f"{m} {v['mean']:.3f} ± {v['std']:.3f}" for m, v in spk.items()),
          flush=True)
    print(f"safe session rules: {table['safe_rules'] or 'none'}", flush=True)
    if "emodb" in table:
        print("EmoDB UAR: " + ", ".join(f"{m} {v:.3f}" for m, v in table["emodb"].items()), flush=True)
    print("robustness, uncalibrated (training/linear/room_eval.py):\n" + format_room_table(robustness), flush=True)
    print(f"random split (speakers shared): accuracy {rnd['accuracy']:.4f} UAR {rnd['uar']:.4f}", flush=True)
    if reports is not None:
        publish(out, reports)
    return metrics
