"""Cross-corpus check: models trained on RAVDESS + TESS, scored on EmoDB (German, 10 actors never heard).

Each EmoDB clip of the six emotions it shares with our labels (angry, disgust, fearful, happy,
neutral, sad; boredom has no counterpart) goes through the serving path (prepare + features +
standardise + ONNX Runtime, as in training: one window per clip); the prediction is the argmax over
those six labels only, since EmoDB has no calm and no surprise.
    python benchmarks/cross_corpus.py --model models/speechsense-hybrid.onnx --model models/speechsense-encoder.onnx
Only for models that never trained on EmoDB: a model whose metadata names EmoDB is refused.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from speechsense.audio import load_file
from speechsense.features import prepare_window
from speechsense.labels import EMODB_EMOTIONS, LABELS, label_index
from speechsense.server.config import EngineOptions
from speechsense.server.model import EmotionModel
from speechsense.training.corpora import default_data_root, scan_emodb
from speechsense.training.report import evaluate

REPO = Path(__file__).resolve().parent.parent
SHARED = sorted({label_index(lab) for lab in EMODB_EMOTIONS.values()})


def score(model: EmotionModel, windows: list[np.ndarray], batch: int = 32) -> np.ndarray:
    """Probabilities restricted to EmoDB's labels and renormalised, (n, len(LABELS)) with zeros elsewhere."""
    cfg = model.meta.feature_config
    feats = model.inputs_of(np.stack([prepare_window(w, cfg) for w in windows]))  # features or the windows
    probs = np.concatenate([model.predict(feats[i:i + batch]) for i in range(0, len(feats), batch)])
    mask = np.zeros(len(LABELS), np.float32)
    mask[SHARED] = 1.0
    probs = probs * mask
    return probs / probs.sum(axis=1, keepdims=True)


def evaluate_model(path: Path, clips: list, audio: list[np.ndarray]) -> dict:
    model = EmotionModel(path, EngineOptions(intra_op_threads=2))
    if "emodb" in model.meta.training_data.lower():
        raise SystemExit(f"{path} was trained on EmoDB: a cross-corpus figure for it would be meaningless")
    t0 = time.time()
    probs = score(model, audio)
    y = np.array([label_index(c.label) for c in clips])
    m = evaluate(probs, y)
    return {"model": str(path), "model_name": model.meta.model_name, "model_version": model.meta.model_version,
            "model_family": model.meta.model_family, "training_preset": model.meta.training_preset,
            "model_bytes": path.stat().st_size, "clips": len(clips), "accuracy": m["accuracy"],
            "uar": m["uar"], "per_class_recall": m["per_class_recall"], "seconds": time.time() - t0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, action="append", required=True, help="ONNX model (repeatable)")
    p.add_argument("--data-root", type=Path, default=None, help="default $SPEECHSENSE_DATA or ../shared/datasets")
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = p.parse_args(argv)
    report = scan_emodb(args.data_root or default_data_root())
    clips = report.clips
    audio = [load_file(c.path, 16_000) for c in clips]
    print(f"EmoDB: {len(clips)} clips of 6 shared emotions from {len({c.speaker for c in clips})} speakers "
          f"({len(report.skipped)} boredom clips left out)", flush=True)
    rows = []
    for path in args.model:
        row = evaluate_model(path, clips, audio)
        rows.append(row)
        recall = " ".join(f"{k} {v:.2f}" for k, v in row["per_class_recall"].items())
        print(f"{row['model_name']} {row['model_version']} ({row['model_family']}): accuracy "
              f"{row['accuracy']:.4f} UAR {row['uar']:.4f} | {recall} | {row['seconds']:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"corpus": "emodb", "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
