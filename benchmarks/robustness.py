"""Robustness in the rooms people speak in: UAR per condition and model, through the serving path.

Held-out voices, one window per clip, every condition built reproducibly (each clip's noise seeded by
its file name and the condition):
- `ravdess`: the test actors of the 5 speaker folds (training/splits.py speaker_folds), i.e. RAVDESS
  actors 1-20. Speaker-independent only for per-fold models (--fold-models); the bundled models were
  trained on the `random` split, which holds every one of these actors, and their rows say so.
- `emodb`: EmoDB's 6 shared emotions (German, 10 actors, never in training): the headline set for
  the bundled models. Predictions are the argmax over those 6 labels, as in cross_corpus.py.
Each window goes through the server's Engine: the VAD gate, prepare_window, the batched features and
ONNX Runtime. A window the gate calls non-speech gets no prediction and counts as a miss in UAR; the
fraction gated is printed beside it. Babble is 4 talkers of neutral speech from the other corpora
(TESS + EmoDB for RAVDESS clips, RAVDESS + TESS for EmoDB), never the clip's own corpus.
    python benchmarks/robustness.py --json runs/robustness.json
    python benchmarks/robustness.py --fold-models 'runs/x/speaker-fold{k}/model.onnx'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np

from speechsense.audio import load_file
from speechsense.labels import EMODB_EMOTIONS, LABELS, label_index
from speechsense.server.config import EngineOptions
from speechsense.server.engine import Engine
from speechsense.server.metrics import ServerMetrics
from speechsense.server.model import EmotionModel
from speechsense.server.vad import SpeechDetector
from speechsense.training import rooms
from speechsense.training.conditions import BABBLE_TALKERS, CONDITIONS, degrade
from speechsense.training.corpora import Clip, default_data_root, ravdess_clip, scan_emodb
from speechsense.training.splits import speaker_folds

REPO = Path(__file__).resolve().parent.parent
RATE = 16_000
EMODB_LABELS = sorted({label_index(lab) for lab in EMODB_EMOTIONS.values()})


def held_out_sets(root: Path, every: int) -> dict[str, list[tuple[Clip, int]]]:
    """(clip, fold) per set: RAVDESS clips of each fold's test actors, and EmoDB (fold -1); every k-th clip."""
    rav = []
    for fold, actors in enumerate(speaker_folds()):
        for actor in actors:
            for f in sorted((root / "ravdess" / f"Actor_{actor:02d}").glob("*.flac")):
                speaker, gender, label = ravdess_clip(f)
                rav.append((Clip(str(f), "ravdess", speaker, gender, label, 0.0), fold))
    emodb = [(c, -1) for c in scan_emodb(root).clips]
    return {"ravdess": rav[::every], "emodb": emodb[::every]}


def uar(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean([(pred[y == c] == c).mean() for c in sorted(set(y.tolist()))]))


async def score_all(engine: Engine, windows: list[np.ndarray], chunk: int = 64) -> list[np.ndarray | None]:
    """Every window through Engine.score (gate on), at most `chunk` in flight."""
    out: list[np.ndarray | None] = []
    for i in range(0, len(windows), chunk):
        scored = await asyncio.gather(*(engine.score(w, w.size) for w in windows[i:i + chunk]))
        out += [s.probabilities for s in scored]
    return out


def predictions(probs: list[np.ndarray | None], labels: list[int] | None) -> np.ndarray:
    """Argmax per window (over `labels` only when given); -1 where the gate said non-speech."""
    mask = np.full(len(LABELS), -np.inf)
    mask[labels if labels is not None else slice(None)] = 0.0
    return np.array([-1 if p is None else int(np.argmax(p + mask)) for p in probs])


class Scorer:
    """One model (or one per fold) behind started Engines; score() maps windows of a fold to predictions."""

    def __init__(self, paths: list[Path], options: EngineOptions) -> None:
        self.paths = paths
        self.engines = [Engine(EmotionModel(p, options), options, ServerMetrics()) for p in paths]
        for e in self.engines:  # every gate option applies, whichever of them the Engine passes on itself
            e.detector = SpeechDetector.from_options(e.model.meta.feature_config.sample_rate, options)
        meta = self.engines[0].model.meta
        self.name = (f"{meta.model_name} {meta.model_version}" if len(paths) == 1
                     else f"{meta.model_name} {meta.model_version} x{len(paths)} folds")
        self.family, self.protocol = meta.model_family, meta.protocol
        self.version, self.preset = meta.model_version, meta.training_preset
        # Per-fold models are speaker-independent on their own fold's actors only; one model that trained
        # on RAVDESS at all has heard some of the 20 actors.
        if len(paths) == 1:
            self.trained_on_ravdess_test = "ravdess" in meta.training_data.lower()
        else:
            self.trained_on_ravdess_test = any(e.model.meta.protocol != f"speaker-fold{k}"
                                               for k, e in enumerate(self.engines))
        self.trained_on_emodb = any("emodb" in e.model.meta.training_data.lower() for e in self.engines)

    def start(self) -> None:
        for e in self.engines:
            e.warm_up()
            e.start()

    async def close(self) -> None:
        for e in self.engines:
            await e.close()

    async def score(self, windows: list[np.ndarray], folds: list[int], labels: list[int] | None) -> list[np.ndarray]:
        """Predictions: the one model's, or each fold's own model on its held-out actors combined into one
        prediction; fold models leave EmoDB (fold -1) to the model trained on every speaker: no runs."""
        if len(self.engines) == 1:
            return [predictions(await score_all(self.engines[0], windows), labels)]
        if any(f < 0 for f in folds):
            return []
        runs = []
        for k, engine in enumerate(self.engines):
            idx = [i for i, f in enumerate(folds) if f == k]
            pred = np.full(len(windows), -2)
            pred[idx] = predictions(await score_all(engine, [windows[i] for i in idx]), labels)
            runs.append(pred)
        return [np.max(np.stack(runs), axis=0)]  # each clip has its fold's prediction, -2 elsewhere


async def run(scorers: list[Scorer], sets: dict, pool: rooms.BabblePool, conditions: list[str], seed: int) -> list:
    rows = []
    audio = {name: [load_file(c.path, RATE) for c, _ in clips] for name, clips in sets.items()}
    for condition in conditions:
        for name, clips in sets.items():
            t0 = time.time()
            windows = [degrade(x, c.path, condition, pool, RATE, seed)
                       for x, (c, _) in zip(audio[name], clips, strict=True)]
            y = np.array([label_index(c.label) for c, _ in clips])
            labels = EMODB_LABELS if name == "emodb" else None
            for s in scorers:
                runs = await s.score(windows, [f for _, f in clips], labels)
                if not runs:
                    continue
                rows.append({"model": s.name, "family": s.family, "version": s.version, "preset": s.preset,
                             "folds": len(s.paths) > 1, "set": name, "condition": condition,
                             "windows": len(windows), "uar": float(np.mean([uar(p, y) for p in runs])),
                             "accuracy": float(np.mean([(p == y).mean() for p in runs])),
                             "gated": float(np.mean([(p == -1).mean() for p in runs])),
                             "speaker_independent": not (s.trained_on_ravdess_test if name == "ravdess"
                                                         else s.trained_on_emodb)})
                print(f"{condition:18s} {name:8s} {s.name:28s} UAR {rows[-1]['uar']:.3f} gated "
                      f"{rows[-1]['gated']:.1%} ({time.time() - t0:.0f} s)", flush=True)
    return rows


def table(rows: list[dict], conditions: list[str]) -> str:
    """Markdown: one row per condition, one column per (model, set): UAR (gated fraction)."""
    cols = list(dict.fromkeys((r["model"], r["set"], r["speaker_independent"]) for r in rows))
    head = ["condition"] + [f"{m} {s}{'' if ind else ' (seen in training)'}" for m, s, ind in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for cond in conditions:
        cells = [cond]
        for m, s, _ in cols:
            r = next(r for r in rows if r["model"] == m and r["set"] == s and r["condition"] == cond)
            cells.append(f"{r['uar']:.3f} ({r['gated']:.1%} gated)" if r["gated"] else f"{r['uar']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, action="append", default=None,
                   help="ONNX model (repeatable; default both bundled families)")
    p.add_argument("--fold-models", action="append", default=[],
                   help="a path pattern with {k} for the 5 speaker-fold models of one recipe (repeatable): "
                        "each fold's test actors are scored by that fold's own model (EmoDB is left to --model)")
    p.add_argument("--data-root", type=Path, default=None, help="default $SPEECHSENSE_DATA or ../shared/datasets")
    p.add_argument("--condition", choices=list(CONDITIONS), action="append", default=None,
                   help="conditions to run (repeatable; default all)")
    p.add_argument("--set", choices=("ravdess", "emodb"), action="append", default=None, dest="sets")
    p.add_argument("--every", type=int, default=1, help="every k-th clip of each set (subsets while developing)")
    p.add_argument("--gate", choices=("adaptive", "absolute"), default="adaptive",
                   help="speech gate (absolute: the old fixed floor, min_speech_dbfs -50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    root = args.data_root or default_data_root()
    models = args.model if args.model or args.fold_models else [REPO / "models" / "speechsense-encoder.onnx",
                                                                 REPO / "models" / "speechsense-hybrid.onnx"]
    conditions = args.condition or list(CONDITIONS)
    sets = {k: v for k, v in held_out_sets(root, args.every).items() if args.sets is None or k in args.sets}
    pool = rooms.BabblePool(rooms.neutral_clips(root), RATE)
    options = EngineOptions() if args.gate == "adaptive" else EngineOptions(gate="absolute", min_speech_dbfs=-50.0)
    scorers = [Scorer([m], options) for m in models or ()]
    scorers += [Scorer([Path(pattern.format(k=k)) for k in range(5)], options) for pattern in args.fold_models]
    print(f"sets: {', '.join(f'{k} {len(v)} clips' for k, v in sets.items())}; models: "
          f"{', '.join(s.name for s in scorers)}", flush=True)

    async def go() -> list:
        for s in scorers:
            s.start()
        try:
            return await run(scorers, sets, pool, conditions, args.seed)
        finally:
            for s in scorers:
                await s.close()

    t0 = time.time()
    rows = asyncio.run(go())
    print(f"\n{table(rows, conditions)}\n\nUAR over the set's labels (EmoDB: its 6); a gated window counts as a miss. "
          f"{time.time() - t0:.0f} s", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"models": [str(p) for s in scorers for p in s.paths], "seed": args.seed,
                                         "gate": args.gate,
                                         "every": args.every, "babble_talkers": BABBLE_TALKERS,
                                         "sets": {k: len(v) for k, v in sets.items()}, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
