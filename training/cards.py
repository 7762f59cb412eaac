"""What every model card shares, written only from figures in files: the comparison figures, the preset
table, the speaker, export, noise and waveform sections and the licence lines.

The family cards (training/<family>/card.py) build on these public helpers. A model's own figures come from its
run folder and reports/; the figures it is compared with (the study's, published ones, earlier floors,
targets) from reports/references.json, which names each one's source. This module holds no figure of its own.
"""

from __future__ import annotations

import json
from pathlib import Path

from speechsense.modelmeta import WAVEFORM_INPUT, waveform_preparation


def waveform_report(reports: Path, model_name: str) -> Path:
    """Where export writes a waveform file's parity and accuracy figures (beside, not inside, the preset folders)."""
    return reports / f"waveform-{model_name}.json"


def reproduce_section(commands: list[str]) -> list[str]:
    """The card's closing block: the commands that made the model, from its export.json."""
    return ["## Reproduce", "", "```", *commands, "```", ""]


def licence_section(metadata) -> list[str]:
    """The encoder cards' data and licence lines (the corpora's terms; the encoder's own weights are MIT)."""
    return ["## Data and licences", "", f"- {metadata.training_data}.",
            "- The model inherits the corpora's **non-commercial terms** (RAVDESS CC BY-NC-SA 4.0, TESS CC BY-NC-ND "
            "4.0); the encoder weights themselves are MIT."]


REFERENCES = "references.json"


def references(reports_root: Path) -> dict:
    """The comparison figures in reports/references.json; FileNotFoundError names the file when it is missing."""
    path = reports_root / REFERENCES
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the cards' comparison figures are read from it")
    return json.loads(path.read_text())


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def epochs(m: dict) -> str:
    """Epochs run of the cap (and the preset's own length where --epochs cut it), and the epoch kept."""
    from speechsense.training.presets import PRESETS

    cap = f" of {m['max_epochs']}" if m.get("max_epochs") else ""
    preset = PRESETS.get(m.get("preset", ""))
    if preset and m.get("max_epochs") and m["max_epochs"] < getattr(preset.recipe, "epochs", 0):
        cap += f", capped from {preset.recipe.epochs}"
    if m["kept"] == "best" and m.get("best_epoch") is None:
        return f"{m['epochs_run']}{cap} (best, epoch not recorded)"
    if m.get("members"):
        best = ", ".join(str(x["best_epoch"]) for x in m["members"])
        return f"{m['epochs_run']}{cap} ({len(m['members'])} members averaged; best {best})"
    return f"{m['epochs_run']}{cap} ({m['kept']} {m['best_epoch'] if m['kept'] == 'best' else m['epochs_run']})"


def preset_rows(runs: Path) -> list[str]:
    """One table row per known preset and per preset with a report; unmeasured ones say "not run".

    `runs` holds <preset>/random/metrics.json and <preset>/speaker/fold<k>/metrics.json: the
    committed reports/ folder (speechsense-train copies every finished run there) or a runs/ folder.
    """
    from speechsense.training.presets import PRESETS, SCREENS
    from speechsense.training.report import summarise_folds

    reported = {p.name for p in runs.iterdir() if p.is_dir()} - set(SCREENS) if runs.is_dir() else set()
    rows = []
    for name in sorted(reported | set(PRESETS)):
        folder = runs / name
        linear = load(folder / "calibration" / "metrics.json")
        if linear:  # a linear-head preset: both protocols in one run, no epochs
            rows.append(_linear_row(name, linear))
            continue
        rnd = load(folder / "random" / "metrics.json")
        folds = [json.loads(f.read_text()) for f in sorted(folder.glob("speaker/fold*/metrics.json"))]
        r = (f"{pct(rnd['test']['accuracy'])} | {rnd['test']['uar']:.3f} | {epochs(rnd)}"
             if rnd else "not run | - | -")
        s = summarise_folds(folds) if folds else None
        sp = (f"{s['uar_mean']:.3f} +- {s['uar_std']:.3f} | {pct(s['accuracy_mean'])} | {len(folds)}/5 | "
              f"{epochs(folds[0])}" if s else "not run | - | 0/5 | -")
        rows.append(f"| `{name}` | {r} | {sp} |")
    return rows


def _linear_row(name: str, m: dict) -> str:
    """A linear-head preset's row: its random split and its uncalibrated speaker folds (no epochs)."""
    rnd, spk = m["random"], m["calibration"]["speaker"]
    n = len(spk["uncalibrated"]["per_fold"])
    return (f"| `{name}` | {pct(rnd['accuracy'])} | {rnd['uar']:.3f} | - (linear) | "
            f"{spk['uncalibrated']['mean']:.3f} +- {spk['uncalibrated']['std']:.3f} | "
            f"{pct(spk['accuracy_uncalibrated']['mean'])} | {n}/5 | - (linear) |")


def _fold_spread(runs: Path) -> float:
    """The largest gap between one preset's best and worst speaker fold UAR in the reports."""
    gaps = [max(u) - min(u) for u in (
        [json.loads(f.read_text())["test"]["uar"] for f in folder.glob("speaker/fold*/metrics.json")]
        for folder in (runs.iterdir() if runs.is_dir() else [])) if len(u) > 1]
    return max(gaps, default=0.0)


TABLE_HEADING = "### Presets compared"


def preset_table(reports_root: Path) -> list[str]:
    """The card's preset comparison: heading, one row per preset, and how to read it."""
    return [
        TABLE_HEADING,
        "",
        "| preset | random: accuracy | random: UAR | epochs (kept) | speaker: UAR | speaker: accuracy | folds "
        "| epochs per fold |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *preset_rows(reports_root),
        "",
        "Each row is read from `reports/<preset>/` (what `speechsense-train` copied there when the run finished). "
        "\"not run\" means no completed run of that preset on that protocol: on the 2-core CPU a `random` run "
        "takes 30-60 min and five speaker folds 1-2 h, so presets were run in order of promise. A speaker mean over "
        f"fewer than 5 folds is not comparable with a 5-fold mean (one preset's folds differ by up to "
        f"{_fold_spread(reports_root):.2f} in UAR): compare "
        "the same folds, in `reports/<preset>/speaker/fold<k>/metrics.json`.",
    ]


def refresh_table(card: Path, reports_root: Path) -> None:
    """Rewrite only the preset comparison of an existing card from reports/, keeping every other line.

    A preset measured after the bundled model was exported belongs in its card without re-exporting it.
    """
    lines = card.read_text().split("\n")
    if TABLE_HEADING not in lines:
        raise ValueError(f"{card} has no '{TABLE_HEADING}' section to refresh")
    start = lines.index(TABLE_HEADING)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
    card.write_text("\n".join([*lines[:start], *preset_table(reports_root), "", *lines[end:]]))


def speaker_section(speaker: dict) -> list[str]:
    lines = ["| fold | test actors | accuracy | UAR | macro-F1 |", "| --- | --- | --- | --- | --- |"]
    for f in speaker["per_fold"]:
        actors = ", ".join(s.split("_")[-1] for s in f["test_speakers"])
        lines.append(f"| {f['fold']} | {actors} | {pct(f['accuracy'])} | {f['uar']:.3f} | {f['macro_f1']:.3f} |")
    status = ("all 5 folds measured" if speaker["complete"] else
              f"{speaker['n_folds_measured']} of 5 folds measured (folds {speaker['folds_measured']}); the "
              "others are pending, and this mean is over the measured folds only")
    lines += ["", f"Mean over folds: UAR **{speaker['uar_mean']:.3f} +- {speaker['uar_std']:.3f}**, accuracy "
              f"{pct(speaker['accuracy_mean'])}, macro-F1 {speaker['macro_f1_mean']:.3f} ({status})."]
    return lines


def export_section(report: dict, converter: str = "tf2onnx 1.17 `from_function`, opset 18, native ONNX LSTM"
                    ) -> list[str]:
    """Parity figures and the quantisation measurement."""
    par, quant = report["parity"], report.get("quantization")
    lines = [
        "## Export and parity",
        "",
        f"{converter}. Keras vs ONNX Runtime on {par['n_windows']} "
        f"real test windows: max |diff| in probabilities {par['max_abs_diff']:.2e}, mean "
        f"{par['mean_abs_diff']:.2e}, argmax mismatches {par['argmax_mismatches']} (export fails above 1e-4 "
        "or on any mismatch).",
    ]
    if quant:
        lines += ["", f"int8 dynamic quantisation (MatMul + LSTM only): batch-1 latency "
                  f"{quant['fp32_latency_ms']:.2f} -> {quant['int8_latency_ms']:.2f} ms (2 threads), test accuracy "
                  f"{pct(quant['fp32_accuracy'])} -> {pct(quant['int8_accuracy'])}: "
                  f"{'qualifies' if quant['keep'] else 'does not qualify'} (rule: faster and at most 0.5 points "
                  "less accurate). " + _shipped_text(report)]
    return lines


def _shipped_text(report: dict) -> str:
    quant = report["quantization"]
    if report.get("shipped") != "int8":
        return "This file is the fp32 model, whose parity is proven above."
    sizes = f"{quant['int8_bytes'] / 1e6:.1f} MB against {quant['fp32_bytes'] / 1e6:.1f}"
    return (f"This file is the int8 model ({sizes}): "
            f"on the same {quant['n_windows']} windows its probabilities differ from the parity-checked fp32 "
            f"model's by at most {quant['max_abs_diff_vs_fp32']:.3f}, with {quant['argmax_changes_vs_fp32']} "
            "argmax changes.")


def noise_section(run: Path) -> list[str]:
    """Accuracy under added noise of each kind, with and without noise reduction, if noise_eval measured it."""
    noise = load(run / "noise.json")
    if not noise:
        return []
    rows = noise["rows"]
    # Files written before noise kinds existed hold white noise only.
    acc = {(r.get("noise", "white"), r["snr_db"], r["noise_reduction"]): r["accuracy"] for r in rows}
    clean = {nr: a for (_, level, nr), a in acc.items() if level == "clean"}
    kinds = list(dict.fromkeys(r.get("noise", "white") for r in rows if r["snr_db"] != "clean"))
    reduced = [k for k in kinds if any(key[0] == k and key[1] != "clean" and key[2] for key in acc)]
    levels = list(dict.fromkeys(r["snr_db"] for r in rows if r["snr_db"] != "clean"))
    header = [f"{k} noise" for k in kinds] + [f"{k} + `--noise-reduction`" for k in reduced]
    lines = ["", "## Noise and noise reduction", "",
             f"Measured with `python benchmarks/noise_eval.py` on the {rows[0]['clips']} `random` "
             f"{'validation' if noise.get('part') == 'val' else 'test'} clips, "
             "noise added at the SNR shown, scored through the server's own path. Training adds white noise; "
             "pink noise and babble (six other clips at once) are kinds it never saw.", "",
             "| SNR | " + " | ".join(header) + " |", "| --- |" + " --- |" * len(header)]
    lines.append("| clean | " + " | ".join([pct(clean[False])] * len(kinds)
                                           + [pct(clean[True]) for _ in reduced]) + " |")
    for level in levels:
        cells = [acc.get((k, level, False)) for k in kinds] + [acc.get((k, level, True)) for k in reduced]
        lines.append(f"| {level:g} dB | " + " | ".join("-" if a is None else pct(a) for a in cells) + " |")
    pairs = [(a, acc[(k, lv, False)]) for (k, lv, nr), a in acc.items() if nr and (k, lv, False) in acc]
    if not pairs:
        return lines
    hurts = all(on < off for on, off in pairs)
    lines += ["", "Noise reduction (noisereduce, stationary spectral gating, as in the study's live loop) "
              + ("hurts at every level, since the model never saw denoised audio; the server leaves it off by "
                 "default." if hurts else "does not help at every level; the server leaves it off by default.")]
    return lines


def input_phrase(metadata) -> str:
    """How the card names the graph's first input: the features, or the waveform they are computed from."""
    cfg = metadata.feature_config
    if metadata.model_input == WAVEFORM_INPUT:
        return (f"Input `waveform`: one prepared window of PCM, shape (batch, {cfg.window_samples}), from which the "
                "graph computes its feature input")
    return "Input `features`"


def waveform_section(metadata, reports_root: Path) -> list[str]:
    """A waveform file's front-end and its parity with the Python front-end (export/waveform.py's report)."""
    if metadata.model_input != WAVEFORM_INPUT:
        return []
    par = json.loads(waveform_report(reports_root, metadata.model_name).read_text())
    return [
        "", "## Waveform input", "",
        "The feature front-end runs inside the graph (framing, window, DFT as a convolution, mel filterbank, log and "
        "the rest of the feature recipe above, then the standardisation), so the file scores audio with ONNX Runtime "
        f"alone (`examples/score_wav.py`). Done outside it: {waveform_preparation(metadata.feature_config)}.",
        "",
        f"Parity with the Python front-end (`speechsense.features`) on {par['windows']} real windows (the `random` "
        "test clips and EmoDB, one window each): features within "
        f"{par['feature_max_diff_of_range']:.1e} of each feature's range (worst `{par['feature_worst_column']}`; "
        f"p99.9 within {par['feature_p999_diff_of_range']:.1e}); probabilities against the feature-input file "
        f"{par['source']} in batches of {par['batch']}: max |diff| {par['probability_max_abs_diff']:.1e}, argmax "
        f"changes: {par['argmax_changes']}{_own_noise(par)}. {_set_scores(par)} "
        f"(`reports/{waveform_report(Path(), metadata.model_name)}`).",
    ]


def _own_noise(par: dict) -> str:
    own = par.get("source_batch1_vs_batch")
    if not own:
        return ""
    return (f", against the int8 source's own difference between batch 1 and batch {par['batch']} (one activation "
            f"scale per call) of max |diff| {own['probability_max_abs_diff']:.2f}, {own['argmax_changes']} argmax "
            "changes")


def _set_scores(par: dict) -> str:
    names = {"random_test": "`random` test clips", "emodb": "EmoDB (argmax over its 6 emotions)"}
    parts = []
    for name, both in par["sets"].items():
        old, new = both["source"], both["waveform"]
        parts.append(f"{names.get(name, name)}: accuracy {pct(old['accuracy'])} / {pct(new['accuracy'])}, UAR "
                     f"{old['uar']:.3f} / {new['uar']:.3f} ({new['n']} windows)")
    return "Source / waveform file, one window per clip, population head: " + "; ".join(parts)


def _reported(model: Path, reports: Path) -> tuple[object, Path]:
    """A model file's metadata and the reports folder of the run it was exported from."""
    from speechsense.training.onnx_export import read_metadata

    metadata = read_metadata(model)
    run_protocol = metadata.metrics.get("run_protocol", metadata.metrics["random"]["protocol"])
    return metadata, reports / metadata.training_preset / run_protocol


def add_commands(model: Path, reports: Path, commands: list[str]) -> None:
    """Append commands (a later step such as the waveform wrap) to those stored with the model's export in
    reports/, which its card's Reproduce block is written from."""
    path = _reported(model, reports)[1] / "export.json"
    report = json.loads(path.read_text())
    stored = report.get("commands", [])
    report["commands"] = stored + [c for c in commands if c not in stored]
    path.write_text(json.dumps(report, indent=1))


def rerender_card(model: Path, reports: Path) -> str:
    """The card as its family's generator writes it from reports/ and the model's metadata, its Reproduce
    block the commands stored in the export's export.json (tests/training/test_model_cards.py checks)."""
    import shutil
    import tempfile

    from speechsense.training.families import family_of
    from speechsense.training.presets import get_preset

    metadata, reported = _reported(model, reports)
    preset = get_preset(metadata.training_preset)
    report = json.loads((reported / "export.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / metadata.training_preset
        shutil.copytree(reported, run)
        (run / "preset.json").write_text(json.dumps(preset.to_dict()))
        return family_of(preset).render_card(run, report, metadata, reports, report.get("commands", []))
