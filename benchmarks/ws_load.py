"""WebSocket against gRPC: N real-time streams on each path, one server process, one run.

Starts `speechsense-server` with --web-port, then alternates phases of N gRPC streams and N WebSocket
streams (same audio, same 100 ms chunks in real time, same window plan), and ends with a phase of N of
each side by side. Per phase it reports the server process's CPU seconds (user + system, psutil) per
window received, and window latency p50/p99 (from sending the chunk that completes a window to its
result). Alternating phases keeps other load on the machine from favouring one path. Example:
    python benchmarks/ws_load.py --streams 20 --seconds 20 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import aiohttp
import grpc
import numpy as np
import psutil
from server_process import free_port, start_server
from stream_load import CHUNK, RATE, one_stream, speech_audio

from speechsense.v1 import emotion_pb2_grpc

REPO = Path(__file__).resolve().parents[1]


async def one_ws_stream(session: aiohttp.ClientSession, url: str, pcm: bytes, hop: float, window: float,
                        latencies: list, counts: dict, offset: float) -> None:
    """The WebSocket twin of stream_load.one_stream: real-time 100 ms binary chunks, then {"end": true}."""
    await asyncio.sleep(offset)
    sent_at: dict[int, float] = {}
    n_chunks = len(pcm) // (CHUNK * 2)
    counts["sent"] += max(int((n_chunks * CHUNK / RATE - window) // hop) + 1, 0)
    async with session.ws_connect(url, max_msg_size=0) as ws:
        await ws.send_str(json.dumps({"format": {"encoding": "AUDIO_ENCODING_LINEAR16", "sampleRateHz": RATE},
                                      "window": {"hopSeconds": hop}}))

        async def send() -> None:
            start = time.perf_counter()
            for i in range(n_chunks):
                await asyncio.sleep(max(0.0, start + i * CHUNK / RATE - time.perf_counter()))
                sent_at[i] = time.perf_counter()
                await ws.send_bytes(pcm[i * CHUNK * 2:(i + 1) * CHUNK * 2])
            await ws.send_str('{"end": true}')

        sender = asyncio.create_task(send())
        async for msg in ws:
            data = json.loads(msg.data)
            if "window" in data:
                chunk = (int(round(data["window"]["endSeconds"] * RATE)) - 1) // CHUNK
                latencies.append(time.perf_counter() - sent_at[chunk])
                counts["received"] += 1
            elif "error" in data:
                code = data["error"]["code"]
                counts["errors"][code] = counts["errors"].get(code, 0) + 1
        await sender


async def phase(kind: str, n: int, grpc_address: str, ws_url: str, pcm: bytes, hop: float, window: float,
                server: psutil.Process) -> list[dict]:
    """n streams of `kind` (grpc, ws, or both: n of each); one result per path."""
    paths = ["grpc", "ws"] if kind == "both" else [kind]
    stats = {p: {"latencies": [], "counts": {"sent": 0, "received": 0, "errors": {}}} for p in paths}
    channels = [grpc.aio.insecure_channel(grpc_address) for _ in range(min(8, n))]
    stubs = [emotion_pb2_grpc.EmotionServiceStub(c) for c in channels]
    jobs = []
    async with aiohttp.ClientSession() as session:
        for i in range(n):
            offset = hop * i / n
            if "grpc" in stats:
                s = stats["grpc"]
                jobs.append(one_stream(stubs[i % len(stubs)], pcm, hop, window, s["latencies"], s["counts"], offset))
            if "ws" in stats:
                s = stats["ws"]
                jobs.append(one_ws_stream(session, ws_url, pcm, hop, window, s["latencies"], s["counts"], offset))
        cpu0, t0 = server.cpu_times(), time.perf_counter()
        await asyncio.gather(*jobs)
        cpu1, wall = server.cpu_times(), time.perf_counter() - t0
    for c in channels:
        await c.close()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    received = sum(s["counts"]["received"] for s in stats.values())
    results = []
    for path, s in stats.items():
        lat = np.array(s["latencies"] or [np.nan]) * 1000
        results.append({
            "phase": kind, "path": path, "streams": n, "windows_sent": s["counts"]["sent"],
            "windows_received": s["counts"]["received"], "errors": s["counts"]["errors"],
            "p50_ms": round(float(np.percentile(lat, 50)), 1), "p99_ms": round(float(np.percentile(lat, 99)), 1),
            # CPU is the server's for the whole phase; with both paths at once it is shared, so per window of all.
            "server_cpu_s": round(cpu, 2), "cpu_ms_per_window": round(1000 * cpu / max(received, 1), 3),
            "wall_s": round(wall, 1)})
    return results


async def run(args) -> None:
    audio = speech_audio(args.seconds, args.data)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    web_port = free_port()
    proc, grpc_port = start_server(args.model, "--web-port", str(web_port), "--log-level", "WARNING",
                                   *args.server_args.split(), seconds=180)
    try:
        server = psutil.Process(proc.pid)
        address, url = f"127.0.0.1:{grpc_port}", f"ws://127.0.0.1:{web_port}/v1/stream"
        per_path: dict[str, list[float]] = {"grpc": [], "ws": []}
        for _ in range(args.rounds):
            for kind in ("grpc", "ws"):
                for result in await phase(kind, args.streams, address, url, pcm, args.hop, args.window, server):
                    per_path[kind].append(result["cpu_ms_per_window"])
                    print(json.dumps(result), flush=True)
        for result in await phase("both", args.streams, address, url, pcm, args.hop, args.window, server):
            print(json.dumps(result), flush=True)
        grpc_ms, ws_ms = float(np.median(per_path["grpc"])), float(np.median(per_path["ws"]))
        print(json.dumps({"summary": "median over rounds", "model": args.model, "streams": args.streams,
                          "grpc_cpu_ms_per_window": round(grpc_ms, 3), "ws_cpu_ms_per_window": round(ws_ms, 3),
                          "ws_over_grpc": round(ws_ms / grpc_ms, 3)}), flush=True)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="hybrid", help="model file or bundled family (hybrid is the stricter test: "
                   "the cheaper the window, the larger the transport's share)")
    p.add_argument("--streams", type=int, default=20, help="streams per path")
    p.add_argument("--seconds", type=float, default=20.0, help="audio seconds per stream")
    p.add_argument("--rounds", type=int, default=2, help="alternating gRPC/WebSocket phase pairs")
    p.add_argument("--hop", type=float, default=1.0)
    p.add_argument("--window", type=float, default=3.0)
    p.add_argument("--server-args", default="", help="extra flags for speechsense-server")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
