"""Soak: N real-time streams opening and closing continuously for M minutes against a running server.

    python benchmarks/soak.py --server 127.0.0.1:50051 --pid <server pid> --streams 100 --minutes 10
Each worker streams 5-20 s of real speech in real time, half-closes, reads the summary, and
starts again. Reports per minute: windows expected vs received, errors by code, p50/p99 window
latency, and the server's RSS; at the end the totals (sent must equal received) and the RSS trend.
Bounded in time, loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from pathlib import Path

import grpc
import numpy as np
from stream_load import RATE, one_stream, rss_mb, speech_audio

from speechsense.v1 import emotion_pb2_grpc


class Minute:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.counts = {"sent": 0, "received": 0, "errors": {}}


async def worker(stub, audio: np.ndarray, minutes: dict, t0: float, end: float, seed: int, hop: float) -> None:
    rng = np.random.default_rng(seed)
    await asyncio.sleep(rng.uniform(0, 5))  # spread the openings
    while time.perf_counter() < end - 20:
        seconds = rng.uniform(5, 20)
        start = int(rng.integers(0, audio.size - int(seconds * RATE)))
        pcm = (np.clip(audio[start:start + int(seconds * RATE)], -1, 1) * 32767).astype("<i2").tobytes()
        bucket = minutes[int((time.perf_counter() - t0) // 60)]
        await one_stream(stub, pcm, hop, 3.0, bucket.latencies, bucket.counts, 0.0)


async def sample_rss(pid: int | None, t0: float, end: float, rss: dict) -> None:
    while pid is not None and time.perf_counter() < end:
        rss[int((time.perf_counter() - t0) // 60)] = rss_mb(pid)
        await asyncio.sleep(5)


async def soak(args) -> None:
    audio = speech_audio(120, args.data)
    minutes: dict[int, Minute] = defaultdict(Minute)
    rss: dict[int, float] = {}
    channels = [grpc.aio.insecure_channel(args.server) for _ in range(8)]
    stubs = [emotion_pb2_grpc.EmotionServiceStub(c) for c in channels]
    t0 = time.perf_counter()
    end = t0 + args.minutes * 60
    await asyncio.gather(sample_rss(args.pid, t0, end, rss),
                         *(worker(stubs[i % 8], audio, minutes, t0, end, i, args.hop) for i in range(args.streams)))
    for c in channels:
        await c.close()
    total = {"sent": 0, "received": 0, "errors": defaultdict(int)}
    for m in sorted(minutes):
        b = minutes[m]
        lat = np.array(b.latencies or [np.nan]) * 1000
        print(json.dumps({"minute": m, "windows_sent": b.counts["sent"], "windows_received": b.counts["received"],
                          "errors": b.counts["errors"], "p50_ms": round(float(np.percentile(lat, 50)), 1),
                          "p99_ms": round(float(np.percentile(lat, 99)), 1), "server_rss_mb": rss.get(m)}))
        total["sent"] += b.counts["sent"]
        total["received"] += b.counts["received"]
        for code, n in b.counts["errors"].items():
            total["errors"][code] += n
    print(json.dumps({"total_windows_sent": total["sent"], "total_windows_received": total["received"],
                      "errors": dict(total["errors"]), "rss_first_mb": rss.get(0),
                      "rss_last_mb": rss.get(max(rss)) if rss else None}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="127.0.0.1:50051")
    p.add_argument("--pid", type=int, help="server process id, for RSS per minute")
    p.add_argument("--streams", type=int, default=100)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--hop", type=float, default=1.0)
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    asyncio.run(soak(p.parse_args()))


if __name__ == "__main__":
    main()
