"""Capacity of every bundled model, side by side in one run: live streams held, flat-out windows/s, bound.

For each model a speechsense-server runs in its own process. First AnalyzeClip on long clips from
a few callers gives flat-out windows/s; then real-time streams (hop 1 s, 100 ms chunks of real
speech, benchmarks/stream_load.py) are added, doubling and then bisecting, to find the most
streams whose window latency stays at p99 <= 250 ms with no window lost. Each model's compute
bound is its MACs per window (benchmarks/onnx_macs.py) over this CPU's GEMM rate measured in
ONNX Runtime itself (float32, and int8 for quantised matmuls). The load generator shares the
machine's cores with the server; its own CPU use is printed too.
    python benchmarks/capacity.py --json reports/capacity.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

import numpy as np
import psutil
from onnx_macs import count_macs, gemm_rates
from server_process import start_server
from stream_load import run_level, speech_audio
from throughput import CLIP_SERVER_FLAGS, ours, study_way

REPO = Path(__file__).resolve().parent.parent


def held(level: dict, p99_ms: float) -> bool:
    return not level["errors"] and level["windows_received"] == level["windows_sent"] and level["p99_ms"] <= p99_ms


async def measured_level(address: str, streams: int, audio: np.ndarray, pid: int) -> dict:
    """One stream_load level plus the server's and this process's CPU use over it (cores)."""
    server, me = psutil.Process(pid), psutil.Process()
    s0, m0, t0, c0 = server.cpu_times(), me.cpu_times(), time.perf_counter(), psutil.cpu_times()
    level = await run_level(address, streams, audio, 1.0, 3.0, pid)
    wall = time.perf_counter() - t0
    s1, m1, c1 = server.cpu_times(), me.cpu_times(), psutil.cpu_times()
    # On a virtual machine the host may take cores away ("steal"): such a level measured less machine.
    total = sum(c1) - sum(c0)
    level["cpu_steal_fraction"] = round((getattr(c1, "steal", 0.0) - getattr(c0, "steal", 0.0)) / max(total, 1e-9), 3)
    level["server_cpu_cores"] = round((s1.user + s1.system - s0.user - s0.system) / wall, 2)
    level["client_cpu_cores"] = round((m1.user + m1.system - m0.user - m0.system) / wall, 2)
    return level


MAX_STEAL = 0.05  # a failed level measured while the host took more than this of the CPU is measured again
STEAL_RETRIES = 2


async def steady_level(address: str, streams: int, audio: np.ndarray, pid: int, p99_ms: float,
                       levels: list) -> dict:
    """measured_level, again (up to STEAL_RETRIES times) when it failed while the host stole CPU; every try is
    kept in levels, and the one with the least steal is the level's result."""
    tries = []
    while True:
        level = await measured_level(address, streams, audio, pid)
        levels.append(level)
        print(json.dumps(level), flush=True)
        tries.append(level)
        if held(level, p99_ms) or level["cpu_steal_fraction"] <= MAX_STEAL or len(tries) > STEAL_RETRIES:
            return level if held(level, p99_ms) else min(tries, key=lambda t: t["cpu_steal_fraction"])


async def search(address: str, audio: np.ndarray, pid: int, start: int, most: int, p99_ms: float) -> tuple:
    """Double from start until a level fails (or most), then bisect to within 10%; (best level, all levels)."""
    levels, good, bad, n = [], None, None, start
    while n <= most:
        level = await steady_level(address, n, audio, pid, p99_ms, levels)
        if held(level, p99_ms):
            good = level
        else:
            bad = level
            break
        n *= 2
    while good and bad and bad["streams"] - good["streams"] > max(2, good["streams"] // 10):
        n = (good["streams"] + bad["streams"]) // 2
        level = await steady_level(address, n, audio, pid, p99_ms, levels)
        good, bad = (level, bad) if held(level, p99_ms) else (good, level)
    return good, levels


def measure_model(path: Path, args, audio: np.ndarray, rates: dict) -> dict:
    """Flat-out and live capacity of one model served by its own server process."""
    proc, _ = start_server(path, *CLIP_SERVER_FLAGS, *args.server_args.split(), port=args.port)
    address = f"127.0.0.1:{args.port}"
    try:
        flat_wps, _, _ = asyncio.run(ours(address, audio, args.clips, args.concurrency))
        best, levels = asyncio.run(search(address, audio[: int(args.seconds * 16_000)], proc.pid, args.start,
                                          args.max_streams, args.p99_ms))
    finally:
        proc.terminate()
        proc.wait(30)
    macs = count_macs(path)
    seconds_per_window = 2 * (macs["float_macs"] / (rates["fp32_gflops"] * 1e9)
                              + macs["int8_macs"] / (rates["int8_gops"] * 1e9))
    bound = 1.0 / seconds_per_window
    return {"model": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path),
            "mb": round(path.stat().st_size / 1e6, 1), "streams_held": best["streams"] if best else 0,
            "p50_ms": best and best["p50_ms"], "p99_ms": best and best["p99_ms"],
            "live_windows_per_s": best and best["windows_per_s"],
            "server_cpu_cores": best and best["server_cpu_cores"], "rss_peak_mb": best and best["rss_peak_mb"],
            "flat_out_windows_per_s": round(flat_wps, 1), "gmacs_per_window": round(
                (macs["float_macs"] + macs["int8_macs"]) / 1e9, 3), "int8_share": round(
                macs["int8_macs"] / max(1, macs["float_macs"] + macs["int8_macs"]), 3),
            "compute_bound_windows_per_s": round(bound, 1), "fraction_of_bound": round(flat_wps / bound, 3),
            "levels": levels}


def table(rows: list[dict]) -> str:
    head = ("| model | MB | streams held (p99 <= 250 ms, none lost) | p50 / p99 ms | server CPU cores | RSS MB | "
            "flat-out windows/s | GMACs/window | compute bound windows/s | fraction of bound |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(f"| {r['model']} | {r['mb']} | {r['streams_held']} | {r['p50_ms']} / {r['p99_ms']} | "
                     f"{r['server_cpu_cores']} | {r['rss_peak_mb']} | {r['flat_out_windows_per_s']} | "
                     f"{r['gmacs_per_window']} | {r['compute_bound_windows_per_s']} | {r['fraction_of_bound']} |")
    return "\n".join(lines)


def main() -> None:
    from speechsense.models import BUNDLED_MODELS, bundled_model

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, action="append", help="ONNX file (repeat; default: every bundled model)")
    p.add_argument("--start", type=int, default=10, help="streams at the first level")
    p.add_argument("--max-streams", type=int, default=640)
    p.add_argument("--seconds", type=float, default=20.0, help="audio seconds per stream at each level")
    p.add_argument("--p99-ms", type=float, default=250.0)
    p.add_argument("--clip-seconds", type=float, default=60.0)
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--baseline-windows", type=int, default=40, help="windows for the study's Keras loop")
    p.add_argument("--port", type=int, default=50081)
    p.add_argument("--server-args", default="", help="extra flags for every speechsense-server")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    models = args.model or [bundled_model(f) for f in BUNDLED_MODELS if bundled_model(f).exists()]
    audio = speech_audio(max(args.clip_seconds, args.seconds), args.data)
    rates = gemm_rates(threads=os.cpu_count() or 1)
    print(json.dumps({"cpu_cores": os.cpu_count(), **rates}), flush=True)
    rows = [measure_model(Path(m).resolve(), args, audio, rates) for m in models]
    hybrid = next((Path(m) for m in models if "hybrid" in Path(m).name), None)
    baseline = None
    if hybrid and args.baseline_windows:  # the study's loop: librosa + Keras predict per window, one process
        baseline = round(study_way(audio, hybrid, None, args.baseline_windows)[0], 1)
    result = {"cpu_cores": os.cpu_count(), "gemm": rates, "server_args": args.server_args,
              "study_keras_loop_windows_per_s": baseline, "models": rows}
    print(table(rows))
    if baseline:
        print(f"study's Keras loop (hybrid architecture, one process): {baseline} windows/s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
