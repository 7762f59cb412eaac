"""`speechsense-export --waveform SOURCE`: the waveform file, its parity report and its card rewritten."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import onnx

from speechsense.export.waveform import check_parity, evaluation_sets, metadata_of, to_waveform, waveform_report

REPO = Path(__file__).resolve().parent.parent


def next_version(version: str) -> str:
    """1.3.0 -> 1.4.0: the same weights with a new interface is a minor version."""
    major, minor, *_ = (version.split(".") + ["0", "0"])[:3]
    return f"{major}.{int(minor) + 1}.0"


def _source_commit(source: Path) -> str | None:
    """The commit holding source's bytes in the repository, when source is a committed, unchanged file."""
    try:
        rel = source.resolve().relative_to(REPO)
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        clean = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--", str(rel)]).returncode == 0
    except (ValueError, subprocess.CalledProcessError, FileNotFoundError):
        return None
    return f"{head}:{rel}" if clean else None


def rerender_card(card: Path, model: Path, reports: Path, extra_commands: list[str]) -> str:
    """The card as its generator writes it from reports/ and model's metadata (as tests/training/test_model_cards.py
    checks), with extra_commands appended to its Reproduce block."""
    from speechsense.export.card import render
    from speechsense.export.encoder_card import render_encoder_card
    from speechsense.export.linear_card import render_linear_card
    from speechsense.export.onnx_export import read_metadata
    from speechsense.training.presets import PRESETS

    metadata = read_metadata(model)
    run_protocol = metadata.metrics.get("run_protocol", metadata.metrics["random"]["protocol"])
    reported = reports / metadata.training_preset / run_protocol
    commands = card.read_text().split("## Reproduce\n\n```\n")[1].split("\n```")[0].split("\n")
    commands += [c for c in extra_commands if c not in commands]
    write = render_encoder_card if metadata.model_family == "encoder" else render
    if run_protocol == "calibration":
        write = render_linear_card
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / metadata.training_preset
        shutil.copytree(reported, run)
        (run / "preset.json").write_text(json.dumps(PRESETS[metadata.training_preset].to_dict()))
        report = json.loads((reported / "export.json").read_text())
        return write(run, report, metadata, reports, commands)


def main_waveform(args: argparse.Namespace, argv: list[str]) -> int:
    """Wrap, check parity and accuracy on real windows, write the file, its report and its card."""
    from speechsense.training.corpora import default_data_root

    source_path = args.waveform
    source = onnx.load(str(source_path))
    meta = metadata_of(source, str(source_path))
    wrapped = to_waveform(source, next_version(meta.model_version), str(source_path))
    if args.per_row_int8:
        from speechsense.export.rowquant import per_row

        wrapped = per_row(wrapped)
    sets = evaluation_sets(args.data_root or default_data_root(), meta.feature_config, meta.labels)
    report = check_parity(source, wrapped, sets)
    committed = _source_commit(source_path)
    report["source"] = f"{meta.model_name} {meta.model_version}"
    fetch = f"git show {committed} > {source_path}" if committed else None
    report["commands"] = [c for c in (fetch, "speechsense-export " + shlex.join(argv)) if c]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(wrapped, str(args.out))
    dest = waveform_report(args.reports, meta.model_name)
    dest.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    if args.card.is_file():
        args.card.write_text(rerender_card(args.card, args.out, args.reports, report["commands"]))
    print(json.dumps({k: v for k, v in report.items() if k != "commands"}, indent=1), flush=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB), {dest} and {args.card}", flush=True)
    return 0
