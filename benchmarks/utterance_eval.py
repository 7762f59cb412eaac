"""Utterance mode on long monologues: boundary error, utterance accuracy, and latency after speech ends.

Run the server in its own process, then e.g.:
    python benchmarks/utterance_eval.py --server 127.0.0.1:50051 --actors 1 2 3 4 5 6 7 8 --parallel 4
Each monologue is ten clips of one RAVDESS actor (all eight emotions) joined by 0.5-2 s gaps, one
gap holding pink noise at -40 dBFS (benchmarks/monologue.py), streamed in real time in 100 ms chunks.
Boundary truth, per clip alone: (a) the server's own utterance of the clip sent alone (AnalyzeClip);
(b) an energy trim of the clip alone (librosa, 30 dB), independent of the VAD. Latency: from sending
the chunk that holds an utterance's end to receiving its result (includes the closing silence).
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from monologue import RATE, Monologue, build, energy_span, paced_requests, pick_clips, utterance_clip

from speechsense.audio import load_file
from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc


@dataclass
class ClipOutcome:
    name: str
    found_as_one: bool
    vad_errors: tuple[float, float]  # start, end error against the clip alone through the server
    energy_errors: tuple[float, float]
    label: str
    alone_label: str
    emotion: str
    latency: float


def stream(stub, mono: Monologue, speed: float) -> list[tuple[pb.UtteranceResult, float]]:
    """Stream paced at `speed` x real time; each utterance with its latency after its end was sent."""
    sent: list[tuple[float, float]] = []  # (audio seconds sent so far, wall time)
    out = []
    for r in stub.StreamEmotions(paced_requests(mono.samples, speed, sent)):
        if r.WhichOneof("result") == "utterance":
            now = time.perf_counter()
            at = next(t for seconds, t in list(sent) if seconds >= r.utterance.end_seconds - 1e-6)
            out.append((r.utterance, now - at))
    return out


def evaluate(stub, mono: Monologue, speed: float) -> tuple[list[ClipOutcome], int]:
    """Outcome per clip, and how many utterances matched no clip's speech (false alarms)."""
    got = stream(stub, mono, speed)
    outcomes, matched = [], set()
    for c in mono.clips:
        y = load_file(c.path, RATE)
        alone = stub.AnalyzeClip(utterance_clip(y)).utterances
        e0, e1 = energy_span(y)
        inside = [(k, u, lat) for k, (u, lat) in enumerate(got)
                  if u.end_seconds > c.offset_seconds and u.start_seconds < c.offset_seconds + c.seconds]
        matched.update(k for k, _, _ in inside)
        if not inside:
            nan2 = (np.nan, np.nan)
            outcomes.append(ClipOutcome(c.path.name, False, nan2, nan2, "", "", c.emotion, np.nan))
            continue
        _, u, lat = inside[0]
        start, end = u.start_seconds - c.offset_seconds, u.end_seconds - c.offset_seconds
        vad = (start - alone[0].start_seconds, end - alone[0].end_seconds) if len(alone) == 1 else (np.nan,) * 2
        one = len(inside) == 1 and len(alone) == 1
        outcomes.append(ClipOutcome(c.path.name, one, vad, (start - e0, end - e1), u.top_label,
                                    alone[0].top_label if alone else "", c.emotion, lat))
    return outcomes, len(got) - len(matched)


def report(outcomes: list[ClipOutcome], false_alarms: int, closing: float, speed: float) -> None:
    n = len(outcomes)
    print(f"clips: {n}; found as one utterance: {sum(o.found_as_one for o in outcomes)}; "
          f"utterances outside any clip's speech: {false_alarms}")
    missed = [o.name for o in outcomes if not o.found_as_one]
    if missed:
        print(f"  not one utterance (in the monologue or alone): {', '.join(missed)}")
    for name, attr in (("vs the clip alone (server)", "vad_errors"), ("vs energy trim of the clip", "energy_errors")):
        e = np.abs(np.array([getattr(o, attr) for o in outcomes], dtype=float))
        e = e[~np.isnan(e).any(axis=1)]
        both = e.reshape(-1)
        print(f"boundary error {name}: median {np.median(both):.3f} s, p95 {np.percentile(both, 95):.3f} s "
              f"(start median {np.median(e[:, 0]):.3f} / p95 {np.percentile(e[:, 0], 95):.3f}; end median "
              f"{np.median(e[:, 1]):.3f} / p95 {np.percentile(e[:, 1], 95):.3f}); within 0.3 s: "
              f"{(both <= 0.3).mean():.1%}")
    scored = [o for o in outcomes if o.label]
    print(f"utterance accuracy (top label = the clip's acted emotion): "
          f"{np.mean([o.label == o.emotion for o in scored]):.1%} of {len(scored)}; same label as the clip alone: "
          f"{np.mean([o.label == o.alone_label for o in scored]):.1%}")
    lat = np.array([o.latency for o in scored]) * 1000
    p50, p99, wait = np.percentile(lat, 50), np.percentile(lat, 99), closing * 1000 / speed
    print(f"latency, end of speech to result: p50 {p50:.0f} ms, p99 {p99:.0f} ms (of which the closing silence, "
          f"{wait:.0f} ms at this pace; after it: p50 {p50 - wait:.0f} ms, p99 {p99 - wait:.0f} ms)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="127.0.0.1:50051")
    p.add_argument("--actors", type=int, nargs="+", default=list(range(1, 9)), help="one monologue per actor")
    p.add_argument("--parallel", type=int, default=4, help="monologues streamed at once")
    p.add_argument("--speed", type=float, default=1.0, help="pace: 1 is real time")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    args = p.parse_args()
    monologues = [build(pick_clips(args.data, a, seed=args.seed + a), seed=args.seed + a) for a in args.actors]
    seconds = sum(m.samples.size for m in monologues) / RATE
    print(f"{len(monologues)} monologues, {seconds:.0f} s of audio, {args.parallel} at a time, speed {args.speed:g}x")
    lock, outcomes, false_alarms = threading.Lock(), [], 0
    with grpc.insecure_channel(args.server) as channel:
        stub = emotion_pb2_grpc.EmotionServiceStub(channel)

        def run(mono: Monologue) -> None:
            nonlocal false_alarms
            got, fa = evaluate(stub, mono, args.speed)
            with lock:
                outcomes.extend(got)
                false_alarms += fa

        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(run, monologues))
    report(outcomes, false_alarms, closing=0.5, speed=args.speed)


if __name__ == "__main__":
    main()
