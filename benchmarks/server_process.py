"""speechsense-server as its own process on loopback, for the benchmarks and the tests that need a real process.

`start_server(model, *flags)` runs `python -m speechsense.server.main` on a free loopback port and returns once
it is ready: EmotionService's own health entry says SERVING. (grpcio's overall "" entry is SERVING from the
start, before the model has warmed up; the service's entry appears only once it is ready.)
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from speechsense.server.probe import is_serving
from speechsense.v1 import emotion_pb2 as pb

LOOPBACK = "127.0.0.1"
SERVICE = pb.DESCRIPTOR.services_by_name["EmotionService"].full_name
START_SECONDS = 120.0  # a server process imports librosa and ONNX Runtime, then warms the model up


def free_port() -> int:
    """A loopback port that was free a moment ago (from the ephemeral range), for a process told its port."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def server_command(model: str | Path, port: int, *flags: str) -> list[str]:
    """The command line of a server on loopback:port; flags are more speechsense-server flags."""
    return [sys.executable, "-m", "speechsense.server.main", "--model", str(model), "--host", LOOPBACK,
            "--port", str(port), *flags]


def wait_ready(address: str, proc: subprocess.Popen, seconds: float = START_SECONDS, log: Path | None = None) -> None:
    """Return once EmotionService at address is SERVING; RuntimeError (with the log's tail) if the process
    exits first or seconds pass."""
    deadline = time.monotonic() + seconds
    while not is_serving(address, timeout=1.0, service=SERVICE):
        tail = f":\n{log.read_text(errors='replace')[-3000:]}" if log is not None and log.is_file() else ""
        if proc.poll() is not None:
            raise RuntimeError(f"{address}'s process exited with {proc.returncode}{tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{address} not SERVING after {seconds:.0f}s{tail}")
        time.sleep(0.25)


def start_server(model: str | Path, *flags: str, port: int = 0, log: Path | None = None,
                 seconds: float = START_SECONDS) -> tuple[subprocess.Popen, int]:
    """A ready server process on loopback and its port (0: a free one); its stderr, the log, goes to `log`
    (None: this process's stderr). Killed if it does not become ready."""
    port = port or free_port()
    with open(log, "w") if log is not None else nullcontext() as sink:
        proc = subprocess.Popen(server_command(model, port, *flags), stderr=sink)
    try:
        wait_ready(f"{LOOPBACK}:{port}", proc, seconds, log)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, port
