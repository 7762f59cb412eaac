"""Load generator: N concurrent real-time streams of real speech against a running server.

Run the server in its own process, then e.g.:
    python benchmarks/stream_load.py --server 127.0.0.1:50051 --streams 1 50 100 200 --seconds 20
Window latency is measured from sending the chunk that completes a window to receiving its result.
Prints p50/p99 latency, windows sent vs received, and errors per concurrency level.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import time
from pathlib import Path

import grpc
import numpy as np

from speechsense.audio import load_file
from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc

RATE = 16_000
CHUNK = 1_600  # 100 ms


def speech_audio(seconds: float, data: Path) -> np.ndarray:
    """Concatenated real speech clips (RAVDESS, else the bundled examples) to the length asked for."""
    files = sorted(glob.glob(str(data / "ravdess" / "Actor_0*" / "*.flac")))[:60] or sorted(
        glob.glob(str(Path(__file__).resolve().parent.parent / "examples" / "*.flac")))
    if not files:
        raise SystemExit("no speech clips found: pass --data or keep examples/")
    parts, total = [], 0
    while total < seconds * RATE:
        for f in files:
            parts.append(load_file(f, RATE))
            total += parts[-1].size
            if total >= seconds * RATE:
                break
    return np.concatenate(parts)[: int(seconds * RATE)]


async def one_stream(stub, pcm: bytes, hop: float, window: float, latencies: list, counts: dict, offset: float):
    """Send pcm in real time in 100 ms chunks; record each window's latency."""
    await asyncio.sleep(offset)  # stagger stream starts across one hop
    sent_at: dict[int, float] = {}
    n_chunks = len(pcm) // (CHUNK * 2)

    async def requests():
        yield pb.StreamEmotionsRequest(config=pb.StreamConfig(
            format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=RATE),
            window=pb.WindowSpec(hop_seconds=hop)))
        start = time.perf_counter()
        for i in range(n_chunks):
            await asyncio.sleep(max(0.0, start + i * CHUNK / RATE - time.perf_counter()))
            sent_at[i] = time.perf_counter()
            yield pb.StreamEmotionsRequest(audio=pcm[i * CHUNK * 2:(i + 1) * CHUNK * 2])

    expected = int((n_chunks * CHUNK / RATE - window) // hop) + 1
    counts["sent"] += max(expected, 0)
    try:
        async for r in stub.StreamEmotions(requests()):
            if r.WhichOneof("result") == "window":
                end_sample = int(round(r.window.end_seconds * RATE))
                chunk = (end_sample - 1) // CHUNK
                latencies.append(time.perf_counter() - sent_at[chunk])
                counts["received"] += 1
    except grpc.aio.AioRpcError as err:
        counts["errors"][err.code().name] = counts["errors"].get(err.code().name, 0) + 1


def rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    import psutil

    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


async def sample_peak_rss(pid: int | None, until: asyncio.Event, peak: list) -> None:
    while pid is not None and not until.is_set():
        peak.append(rss_mb(pid))
        await asyncio.sleep(0.5)


async def run_level(address: str, streams: int, audio: np.ndarray, hop: float, window: float,
                    pid: int | None = None) -> dict:
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    latencies: list[float] = []
    counts = {"sent": 0, "received": 0, "errors": {}}
    # A few channels so that one HTTP/2 connection's flow control is not the bottleneck.
    channels = [grpc.aio.insecure_channel(address) for _ in range(min(8, streams))]
    stubs = [emotion_pb2_grpc.EmotionServiceStub(c) for c in channels]
    rss_before, done, peak = rss_mb(pid), asyncio.Event(), []
    sampler = asyncio.create_task(sample_peak_rss(pid, done, peak))
    t0 = time.perf_counter()
    await asyncio.gather(*(one_stream(stubs[i % len(stubs)], pcm, hop, window, latencies, counts,
                                      hop * i / streams) for i in range(streams)))
    wall = time.perf_counter() - t0
    done.set()
    await sampler
    for c in channels:
        await c.close()
    lat = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {"streams": streams, "windows_sent": counts["sent"], "windows_received": counts["received"],
            "errors": counts["errors"], "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1), "max_ms": round(float(np.max(lat)), 1),
            "windows_per_s": round(counts["received"] / wall, 1),
            **({"rss_before_mb": rss_before, "rss_peak_mb": max(peak), "rss_after_mb": rss_mb(pid),
                "rss_per_stream_mb": round((max(peak) - rss_before) / streams, 2)} if pid else {})}


async def main_async(args) -> None:
    audio = speech_audio(args.seconds, args.data)
    for level in args.streams:
        result = await run_level(args.server, level, audio, args.hop, args.window, args.pid)
        print(json.dumps(result), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="127.0.0.1:50051")
    p.add_argument("--streams", type=int, nargs="+", default=[1, 50, 100, 200])
    p.add_argument("--seconds", type=float, default=20.0, help="audio seconds per stream")
    p.add_argument("--hop", type=float, default=1.0)
    p.add_argument("--window", type=float, default=3.0)
    p.add_argument("--pid", type=int, help="server process id: report its RSS before, at peak and after")
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
