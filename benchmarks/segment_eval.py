"""The utterance segmenter alone, offline: monologues with acted clips and gaps of low-level noise.

    python benchmarks/segment_eval.py --actors 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20
Each monologue is twelve clips of one RAVDESS actor (every emotion, normal and strong intensity) joined
by 0.6-1.8 s gaps; each gap holds one kind of background: faint room noise, or low-level noise (pink at
-40 dBFS RMS; low-pass, brown or 50 Hz hum peaking near -50 dBFS; band noise swelling at 4 Hz). The
server's Segmenter (the real webrtcvad, in 100 ms chunks) cuts it; boundaries depend on the samples
only, so no model or server is needed. Per clip: utterances over its speech (truth: an energy trim of
the clip alone, 30 dB), so one = found whole, more = split; utterances over no clip's speech are false
alarms, counted by the background of the gap they fall in; boundary errors against the trim.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from monologue import BACKGROUNDS, RATE, background, energy_span, pick_clips

from speechsense.audio import load_file
from speechsense.server import utterances
from speechsense.server.utterances import Segmenter, UtteranceOptions
from speechsense.server.vad import SpeechDetector


@dataclass(frozen=True)
class Clip:
    name: str
    strong: bool
    speech: tuple[float, float]  # monologue seconds of its speech (energy trim of the clip alone)


def build(paths: list[Path], seed: int) -> tuple[np.ndarray, list[Clip], list[tuple[float, float, str]]]:
    """Clips joined by gaps, gap k holding background k mod len(BACKGROUNDS) (room noise first and last)."""
    rng = np.random.default_rng(seed)
    parts, clips, gaps, pos = [background("room", RATE // 2, rng)], [], [], RATE // 2
    for i, path in enumerate(paths):
        y = load_file(path, RATE)
        s, e = energy_span(y)
        clips.append(Clip(path.name, path.name.split("-")[3] == "02", (pos / RATE + s, pos / RATE + e)))
        parts.append(y)
        pos += y.size
        kind = BACKGROUNDS[i % len(BACKGROUNDS)] if i < len(paths) - 1 else "room"
        n = int(rng.uniform(0.6, 1.8) * RATE)
        gaps.append((pos / RATE, (pos + n) / RATE, kind))
        parts.append(background(kind, n, rng))
        pos += n
    return np.concatenate(parts).astype(np.float32), clips, gaps


def segment(samples: np.ndarray, options: UtteranceOptions) -> list[tuple[float, float]]:
    detector = SpeechDetector(RATE, 1, 0.1, -50.0)
    seg = Segmenter(options, detector, RATE, -70.0, 30.0)
    out = []
    for i in range(0, samples.size, RATE // 10):
        out += seg.push(samples[i:i + RATE // 10])
    out += seg.finish()
    return [(u.start / RATE, u.end / RATE) for u in out]


def evaluate(actors: list[int], data: Path, options: UtteranceOptions) -> dict:
    per_clip, false_alarms, errors, split, missed, merged = Counter(), Counter(), [], [], [], 0
    for actor in actors:
        samples, clips, gaps = build(pick_clips(data, actor, count=12, seed=actor), seed=actor)
        utts = segment(samples, options)
        used = set()
        for c in clips:
            over = [k for k, (s, e) in enumerate(utts) if e > c.speech[0] and s < c.speech[1]]
            used.update(over)
            per_clip[("strong" if c.strong else "normal", min(len(over), 2))] += 1
            if len(over) > 1:
                split.append(c.name)
            if not over:
                missed.append(c.name)
                continue
            errors.append((utts[over[0]][0] - c.speech[0], utts[over[-1]][1] - c.speech[1]))
        for k, (s, e) in enumerate(utts):
            if sum(e > c.speech[0] and s < c.speech[1] for c in clips) > 1:
                merged += 1
            if k not in used:
                kind = next((g[2] for g in gaps if s < g[1] and e > g[0]), "inside a clip's edges")
                false_alarms[kind] += 1
    e = np.array(errors)
    return {"clips": sum(per_clip.values()),
            "one utterance (normal, strong)": (per_clip["normal", 1], per_clip["strong", 1]),
            "split (normal, strong)": (per_clip["normal", 2], per_clip["strong", 2]),
            "missed": len(missed), "utterances over two clips": merged, "false alarms": dict(false_alarms),
            "split clips": split,
            "start error median/p95 s": (round(float(np.median(np.abs(e[:, 0]))), 3),
                                         round(float(np.percentile(np.abs(e[:, 0]), 95)), 3)),
            "end error median/p95 s": (round(float(np.median(np.abs(e[:, 1]))), 3),
                                       round(float(np.percentile(np.abs(e[:, 1]), 95)), 3)),
            "ends > 0.3 s early": int((e[:, 1] < -0.3).sum())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--actors", type=int, nargs="+", default=list(range(1, 21)))
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    p.add_argument("--closing-silence", type=float, nargs="+", default=[0.0], help="0: the server's default")
    p.add_argument("--periodic-fraction", type=float, nargs="+", default=[0.0, utterances.MIN_PERIODIC_FRACTION],
                   help="rules compared in this run: 0 turns the periodicity check off (the rule before it)")
    args = p.parse_args()
    for closing in args.closing_silence:
        options = UtteranceOptions(**({"closing_silence_seconds": closing} if closing else {}))
        for fraction in args.periodic_fraction:
            utterances.MIN_PERIODIC_FRACTION = fraction
            print(f"== closing silence {options.closing_silence_seconds:g} s, periodic fraction >= {fraction:g}")
            for key, value in evaluate(args.actors, args.data, options).items():
                print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
