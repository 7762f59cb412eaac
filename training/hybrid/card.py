"""The hybrid family's model card (Markdown) beside the exported model, written only from figures in files.

Its sections shared with the other families' cards are training/cards.py's; this module holds no figure of
its own.
"""

from __future__ import annotations

import json
from pathlib import Path

from speechsense.training.cards import (
    REFERENCES,
    export_section,
    input_phrase,
    noise_section,
    pct,
    preset_table,
    references,
    reproduce_section,
    speaker_section,
    waveform_section,
)
from speechsense.training.robustness_card import robustness_section


def _architecture(m: dict, params: int) -> str:
    n = len(m.get("members") or [])
    recipes = [x.get("preset", m["preset"]) for x in m.get("members") or []]
    if n and len(set(recipes)) > 1:
        which = ", ".join(f"`{r}`" for r in recipes)
        return (f"The mean of {n} CNN + attention-LSTM hybrids (the study's architecture in Conv1D form) of "
                f"different recipes ({which}; a member trained on fewer features reads its columns of the "
                f"input; {params / 1e6:.2f} M parameters in all), in one graph")
    if n:
        return (f"The mean of {n} CNN + attention-LSTM hybrids (the study's architecture in Conv1D form, trained "
                f"with different seeds; {params / 1e6:.2f} M parameters in all), in one graph")
    return f"CNN + attention-LSTM hybrid (the study's architecture in Conv1D form, {params / 1e6:.2f} M parameters)"


def _recipe(member: dict, m: dict) -> str:
    return f" (`{member['preset']}`)" if member.get("preset", m["preset"]) != m["preset"] else ""


def _kept(m: dict) -> str:
    if m.get("val_in_training"):  # a refit: no validation left, each model stops where its `random` run did
        stops = "; ".join(f"member {x['member']}{_recipe(x, m)}: {x.get('epochs_run', '?')}"
                          for x in m.get("members") or []) or str(m["epochs_run"])
        return f"trained to the epoch its `random` run kept ({stops}), last weights kept"
    if m.get("members"):
        members = "; ".join(f"member {x['member']}{_recipe(x, m)}: epoch {x['best_epoch']}, test accuracy "
                            f"{pct(x['test_accuracy'])}" for x in m["members"])
        return f"each member's best epoch on validation UAR kept ({members})"
    return f"weights of epoch {m['best_epoch']} ({m['kept']}) kept"


def _protocol_line(m: dict, preset: dict) -> str:
    sp = m["split"]
    if m["protocol"] == "random-full":
        parts = (f"`random-full` (the `random` protocol's stratified 80/10/10 split, seed {preset['seed']}, with "
                 f"its validation clips moved into training): {sp['n_train']} training clips, the same "
                 f"{sp['n_test']} test clips; the recipe and its epochs were chosen on `random`'s validation clips")
    else:
        parts = (f"`random` (stratified 80/10/10 over all clips, seed {preset['seed']}): {sp['n_train']} train / "
                 f"{sp['n_val']} validation / {sp['n_test']} test clips")
    return (f"- Protocol of this model: {parts}; {'up to ' if m.get('members') else ''}{m['epochs_run']} epochs "
            f"run, {_kept(m)}; {m['training_seconds'] / 60:.0f} min on 2 CPU cores.")


def _intro(metadata, m: dict, preset: dict, params: int) -> list[str]:
    """Title, interface, data and licences, features and training."""
    cfg = metadata.feature_config
    return [
        f"# {metadata.model_name} {metadata.model_version}: speech emotion recognition (8 classes)",
        "",
        f"{_architecture(m, params)} served by ONNX Runtime. {input_phrase(metadata)}: standardised per-frame "
        "features, shape (batch, "
        f"{cfg.frames}, {cfg.n_features}); output `probabilities`: (batch, 8) in the order "
        f"{', '.join(metadata.labels)}. Standardisation statistics, the feature config, labels and the "
        "figures below are stored in the file's metadata; the server needs nothing else.",
        "",
        "## Data and licences",
        "",
        "- RAVDESS speech, actors 1-20 (1,200 clips): Livingstone & Russo (2018), **CC BY-NC-SA 4.0**.",
        "- TESS (2,800 clips, 2 actresses aged 26 and 64): Dupuis & Pichora-Fuller (2010), **CC BY-NC-ND 4.0**.",
        "- This model is derived from both and **inherits their non-commercial terms**: non-commercial use "
        "only, with attribution to both corpora.",
        f"- Files skipped as unreadable during training: {m['skipped_files']}.",
        "",
        "## Features and training",
        "",
        f"- Features: {cfg.feature_set} per 10 ms frame, {cfg.window_seconds:g} s window at "
        f"{cfg.sample_rate} Hz (n_fft {cfg.n_fft}, hop {cfg.hop_length}), peak-normalised and trimmed "
        f"(top_db {cfg.trim_top_db:g}) as in the study. Default hop between windows when serving: "
        f"{metadata.default_hop_seconds:g} s.",
        f"- Preset `{preset['name']}`: {preset['description']}",
        _protocol_line(m, preset),
        "",
    ]


def _results(report: dict, reports_root: Path) -> list[str]:
    """Random-split and speaker-independent figures, with the study's and published ones beside them."""
    rnd, spk = report["metrics"]["random"], report["metrics"]["speaker"]
    ref = references(reports_root)
    svm, target = ref["svm_floor"], ref["hybrid_targets"]
    return [
        "## Measured figures",
        "",
        "`random` protocol (speakers shared between train and test, as in the study), test split:",
        "",
        "| | accuracy | UAR | macro-F1 | cross-entropy |",
        "| --- | --- | --- | --- | --- |",
        f"| this model | **{pct(rnd['accuracy'])}** | {rnd['uar']:.3f} | {rnd['macro_f1']:.3f} | "
        f"{rnd['cross_entropy']:.3f} |",
        *_chosen_row(rnd),
        f"| the study's hybrid | {pct(ref['study']['accuracy'])} | - | - | - |",
        f"| RBF-SVM floor on clip statistics (90/10 split) | {pct(svm['random_accuracy'])} | "
        f"{svm['random_uar']:.3f} | - | - |",
        "",
        f"ONNX Runtime on the same test windows: accuracy {pct(report['onnx_test_accuracy'])}; by corpus: "
        + ", ".join(f"{c} {pct(a)}" for c, a in report["onnx_test_accuracy_by_corpus"].items()) + ".",
        "",
        "`speaker` protocol (speaker-independent: 5 folds over RAVDESS actors 1-20, 2 male + 2 female test "
        "actors per fold, 1 + 1 validation actors from the rest, TESS in training only), same recipe:",
        "",
        *speaker_section(spk),
        "",
        "For comparison: the best published hand-made-feature figure we know is UAR "
        f"{ref['published_hand_made']['speaker_uar']:.3f} (attention LSTM on MFCC + chroma, 5-fold by actor); an "
        f"RBF-SVM on clip statistics gives {svm['speaker_uar_mean']:.3f} +- {svm['speaker_uar_std']:.3f} here; "
        f"wav2vec2/WavLM systems reach about {ref['published_pretrained']['speaker_uar_low']:.2f}-"
        f"{ref['published_pretrained']['speaker_uar_high']:.2f}. **The random-split figure "
        "mostly measures speaker and sentence memorisation (TESS has two speakers, both in train and test); "
        "the speaker figure is what to expect on a new voice.**",
        "",
        f"Targets: random-split accuracy >= {100 * target['random_accuracy']:g}% "
        f"({'met' if rnd['accuracy'] >= target['random_accuracy'] else 'not met'}: {pct(rnd['accuracy'])}); "
        f"speaker mean UAR >= {target['speaker_uar']:.2f} "
        f"({'met' if spk['uar_mean'] >= target['speaker_uar'] else 'not met'}: {spk['uar_mean']:.3f}). The "
        f"comparison figures and their sources are in `reports/{REFERENCES}`.",
        "",
        *preset_table(reports_root),
        "",
    ]


def _chosen_row(rnd: dict) -> list[str]:
    """For a refit, the same recipe trained on the train clips only (the run that chose its epochs)."""
    c = rnd.get("chosen_run")
    if not c:
        return []
    return [f"| same recipe, train clips only (`random`) | {pct(c['accuracy'])} | {c['uar']:.3f} | "
            f"{c['macro_f1']:.3f} | {c['cross_entropy']:.3f} |"]


LIMITS = [
    "- Acted, read English speech only (two fixed RAVDESS sentences, TESS single words in a carrier "
    "phrase); spontaneous speech, other languages and accents are untested.",
    "- TESS contributes only 2 female speakers; the random-split figure is inflated by it.",
    "- 'calm' exists only in RAVDESS; 'surprised' merges TESS pleasant surprise with RAVDESS surprise.",
    "- 3 s windows; windows must have exactly the graph's frame count (the attention bias is per timestep).",
    "- Studio-quality recordings; noise robustness only from the training augmentation.",
]


def render(run: Path, report: dict, metadata, reports_root: Path, commands: list[str]) -> str:
    """The card's Markdown text."""
    m = json.loads((run / "metrics.json").read_text())
    preset = json.loads((run / "preset.json").read_text())
    text = [*_intro(metadata, m, preset, report["parameters"]), *_results(report, reports_root),
            *export_section(report), *waveform_section(metadata, reports_root), *noise_section(run), "",
            *robustness_section(metadata, reports_root), "## Known limits", "", *LIMITS,
            "", *reproduce_section(commands)]
    return "\n".join(text)
