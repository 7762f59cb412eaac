"""`speechsense-export waveform SOURCE`: the waveform file, its parity report and its card rewritten."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
from pathlib import Path

import onnx

from speechsense.export.waveform import check_parity, evaluation_sets, metadata_of, to_waveform
from speechsense.training.cards import add_commands, rerender_card, waveform_report

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


def main_waveform(args: argparse.Namespace, argv: list[str]) -> int:
    """Wrap, check parity and accuracy on real windows, write the file, its report and its card."""
    from speechsense.training.corpora import default_data_root

    source_path = args.source
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
    if args.card is not None:
        add_commands(args.out, args.reports, report["commands"])
        args.card.write_text(rerender_card(args.out, args.reports))
    print(json.dumps({k: v for k, v in report.items() if k != "commands"}, indent=1), flush=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB), {dest}"
          + (f" and {args.card}" if args.card is not None else ""), flush=True)
    return 0
