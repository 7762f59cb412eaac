"""Wire-level fuzz at length, and a soak under fuzz load: a real server process, hostile bytes, its memory.

    python benchmarks/wire_fuzz.py --cases 5000 --soak-seconds 120 [--model hybrid] [--concurrency 16]
Starts `speechsense-server` on a free loopback port (limits as in tests/test_fuzz.py), sends
benchmarks/fuzz_cases.py's cases (random and mutated bytes as first message, mid-stream and to AnalyzeClip),
then repeats fresh cases for --soak-seconds. Prints outcomes per target and status, cases that broke the
promise (never INTERNAL, UNKNOWN or a hang; an end within 2 s of the last message), p50/p99/max end
times, the health and open streams after each phase, and the server's RSS before, at peak and after.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import psutil
from fuzz_cases import cases, judge, normal_stream, run_case
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rawclient import RawClient
from server_process import free_port, start_server

LIMIT = 128 * 1024


def open_streams(metrics_port: int) -> float:
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith("speechsense_open_streams"))


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc, self.peak, self.stop = psutil.Process(pid), 0.0, threading.Event()

    def mb(self) -> float:
        return self.proc.memory_info().rss / 2**20

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.peak = max(self.peak, self.mb())


def run_phase(client: RawClient, pool: ThreadPoolExecutor, batch: list, tally: Counter, ends: list,
              failures: list) -> None:
    for case, out in zip(batch, pool.map(lambda c: run_case(client, c), batch), strict=True):
        tally[f"{case.target} {out.code.name}"] += 1
        ends.append(out.seconds_after_last)
        if (problem := judge(case, out)) is not None:
            failures.append(f"{case.target}/{case.mutation}: {problem}")


def check_after(channel: grpc.Channel, client: RawClient, metrics_port: int) -> dict:
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    normal = client.run_stream(normal_stream())
    windows = [r.summary.windows_analyzed for r in normal.responses if r.HasField("summary")]
    time.sleep(0.5)
    return {"health": health_pb2.HealthCheckResponse.ServingStatus.Name(health.status),
            "normal_stream": f"{normal.code.name}, {windows} windows", "open_streams": open_streams(metrics_port)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=5000)
    p.add_argument("--soak-seconds", type=float, default=60)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--model", default="hybrid")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    metrics_port = free_port()
    server, port = start_server(args.model, "--metrics-port", str(metrics_port), "--max-message-bytes", str(LIMIT),
                                "--max-stream-seconds", "6", "--max-clip-seconds", "6", "--log-level", "WARNING",
                                log=Path(os.devnull))
    report: dict = {"model": args.model, "concurrency": args.concurrency}
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, ThreadPoolExecutor(args.concurrency) as pool:
            client, rss = RawClient(channel), RssSampler(server.pid)
            report["after_start"] = check_after(channel, client, metrics_port)
            report["rss_mb_before"] = round(rss.mb(), 1)
            rss.start()
            for phase, seconds in (("cases", None), ("soak", args.soak_seconds)):
                tally, ends, failures, t0, trend = Counter(), [], [], time.monotonic(), []
                seed = args.seed
                while True:
                    n = args.cases if seconds is None else 500
                    run_phase(client, pool, list(cases(seed, n, LIMIT)), tally, ends, failures)
                    seed += 1000
                    if seconds is not None and (not trend or time.monotonic() - t0 >= 30 * len(trend)):
                        trend.append(round(rss.mb(), 1))  # RSS about every 30 s of the soak
                    if seconds is None or time.monotonic() - t0 >= seconds:
                        break
                report[phase] = {"cases": sum(tally.values()), "seconds": round(time.monotonic() - t0, 1),
                                 "outcomes": dict(sorted(tally.items())), "broken": len(failures),
                                 "broken_examples": failures[:10],
                                 "end_s_p50_p99_max": [round(float(np.percentile(ends, q)), 3) for q in (50, 99)]
                                 + [round(max(ends), 3)],
                                 "after": check_after(channel, client, metrics_port),
                                 "rss_mb_now": round(rss.mb(), 1)} | ({"rss_mb_every_30s": trend} if trend else {})
            time.sleep(5)
            rss.stop.set()
            report["rss_mb_peak"] = round(rss.peak, 1)
            report["rss_mb_after_5s_idle"] = round(rss.mb(), 1)
    finally:
        server.terminate()
        server.wait(30)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    main()
