"""The calibration table in one run: new voices read uncalibrated, with a profile, and with session calibration.

    python benchmarks/calibration_eval.py                       # the bundled encoder model's statistics
    python benchmarks/calibration_eval.py --compare old.onnx    # + another file's own reading of the same clips

Heads are retrained per speaker fold on the model file's own statistics (one window per clip), exactly as
`speechsense-train --preset whisper-base4-linear --protocol calibration` does; every row scores the same
clips (each speaker's enrolment clips are never scored). `--compare` scores another model file as shipped
(uncalibrated, through the serving features) on the same EmoDB clips, for a like-for-like cross-corpus figure.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from speechsense.training.corpora import default_data_root, load_manifest, scan_emodb
from speechsense.training.linear.calibration_eval import SessionRule, evaluate, safe_rules
from speechsense.training.linear.headstats import HeadStats

REPO = Path(__file__).resolve().parent.parent


def compare(path: Path, emodb: list) -> float:
    """Another model file's own uncalibrated EmoDB UAR over the clips the table scores."""
    from speechsense.audio import load_file
    from speechsense.features import prepare_window
    from speechsense.labels import label_index
    from speechsense.server.config import EngineOptions
    from speechsense.server.model import EmotionModel
    from speechsense.training.linear.heads import emodb_restricted, enrolment_mask, uar

    model = EmotionModel(path, EngineOptions(intra_op_threads=2))
    cfg = model.meta.feature_config
    feats = model.inputs_of(np.stack([prepare_window(load_file(c.path, cfg.sample_rate), cfg) for c in emodb]))
    probs = np.concatenate([model.predict(feats[i:i + 16]) for i in range(0, len(feats), 16)])
    y = np.array([label_index(c.label) for c in emodb])
    scored = ~enrolment_mask(emodb)
    return uar(y[scored], emodb_restricted(np.log(probs[scored] + 1e-12)))


def print_table(table: dict) -> None:
    spk, emo = table["speaker"], table.get("emodb", {})
    print(f"{'reading':45s} {'speaker 5-fold UAR':>20s} {'EmoDB UAR':>10s}")
    for key in spk:
        if key.startswith("accuracy"):
            continue
        e = f"{emo[key]:.3f}" if key in emo else "-"
        print(f"{key:45s} {spk[key]['mean']:.3f} ± {spk[key]['std']:.3f}      {e:>10s}")
    print(f"safe session rules: {', '.join(table['safe_rules']) or 'none'}")


def main(argv: list[str] | None = None) -> int:
    from speechsense.models import bundled_model

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=None, help="encoder model file (default: the bundled one)")
    p.add_argument("--layers", type=int, default=5, help="hidden states the heads read (default 5: 4 blocks)")
    p.add_argument("--prior", type=float, default=40.0, help="session rule prior in windows (default 40)")
    p.add_argument("--caps", default="0.05,0.1,0.2,0.5", help="session rule caps to measure")
    p.add_argument("--session-windows", type=int, default=300, help="simulated session length (default 300)")
    p.add_argument("--compare", type=Path, action="append", default=[], help="another model file (repeatable)")
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--cache", type=Path, default=REPO / "cache")
    p.add_argument("--json", type=Path, default=None, help="also write the table here")
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the heads' solver thrashes with BLAS threads here
    root = args.data_root or default_data_root()
    clips = load_manifest(root, args.cache / "manifest.json").clips
    emodb = scan_emodb(root).clips
    model = args.model or bundled_model("encoder")
    stats = HeadStats(model, args.cache / "headstats").get([c.path for c in clips + emodb])[:, : args.layers]
    flat = stats.reshape(len(stats), -1).astype(np.float64)
    rules = [SessionRule(args.prior, float(c)) for c in args.caps.split(",")]
    table = evaluate(flat[: len(clips)], clips, flat[len(clips):], emodb, rules, args.session_windows)
    table["safe_rules"] = safe_rules(table)
    table["model"] = model.name
    table["compare"] = {str(path): compare(path, emodb) for path in args.compare}
    print_table(table)
    for path, value in table["compare"].items():
        print(f"{path} as shipped, EmoDB UAR on the same clips: {value:.3f}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
