"""The compose balancer, on loopback: nginx from deploy/nginx (the same template and start script as
docker-compose.yml) in front of two real `speechsense-server` processes.

Checks that streams come back whole through the balancer, are spread over both replicas, and that once a replica
dies new streams still succeed (they go to the one left). Skipped when nginx is not installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from server_process import LOOPBACK, free_port, server_command, wait_ready
from synth import RATE, speech_like, tiny_model

from speechsense.labels import LABELS
from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
RUN_BALANCER = REPO / "deploy" / "nginx" / "run-balancer.sh"
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
START_SECONDS = 90  # a server process imports librosa and ONNX Runtime, then warms the model up
RPC_SECONDS = 30

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (Debian: apt-get install nginx); the gRPC balancer test needs it")]


class Process:
    """A child process with its output in a log file; stop() always reaps it."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.log = name, log
        self.address = ""  # host:port, for the servers
        self._out = log.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()


def wait_serving(address: str, proc: Process, seconds: float = START_SECONDS) -> None:
    """Until EmotionService's own health entry is SERVING (through nginx: on a replica); fails the test with
    the process's log if it exits first or takes longer."""
    try:
        wait_ready(address, proc.proc, seconds, proc.log)
    except RuntimeError as exc:
        pytest.fail(f"{proc.name}: {exc}")


def requests(samples: np.ndarray, tag: str, chunk_seconds: float = 0.25) -> Iterator[pb.StreamEmotionsRequest]:
    yield pb.StreamEmotionsRequest(config=pb.StreamConfig(
        format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=RATE, channels=1),
        window=pb.WindowSpec(hop_seconds=1.0), session_tag=tag))
    data = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    step = int(chunk_seconds * RATE) * 2
    for i in range(0, len(data), step):
        yield pb.StreamEmotionsRequest(audio=data[i:i + step])


def stream_through(address: str, tag: str, samples: np.ndarray) -> list[pb.StreamEmotionsResponse]:
    """One StreamEmotions call on its own connection, as a separate client would make it."""
    with grpc.insecure_channel(address) as channel:
        stub = emotion_pb2_grpc.EmotionServiceStub(channel)
        return list(stub.StreamEmotions(requests(samples, tag), timeout=RPC_SECONDS))


def check_complete(responses: list[pb.StreamEmotionsResponse], tag: str, windows: int) -> None:
    kinds = [r.WhichOneof("result") for r in responses]
    assert kinds == ["window"] * windows + ["summary"], kinds
    assert all(r.session_tag == tag for r in responses)
    for r in responses[:-1]:
        assert [s.label for s in r.window.scores] == list(LABELS)
        assert sum(s.score for s in r.window.scores) == pytest.approx(1.0, abs=1e-5)
    assert responses[-1].summary.windows_analyzed == windows


def served_by(servers: list[Process], tag: str) -> list[str]:
    """Which servers logged this stream's tag (each server logs the tag of every stream it opens)."""
    return [s.name for s in servers if f"'{tag}'" in s.text()]


@pytest.fixture
def cluster(tmp_path) -> Iterator[tuple[str, list[Process], Process]]:
    """(balancer address, [server a, server b], nginx), all on 127.0.0.1; everything is reaped afterwards."""
    model = tiny_model(tmp_path / "tiny.onnx")
    started: list[Process] = []
    try:
        servers = []
        for name in ("a", "b"):
            port = free_port()
            proc = Process(f"server-{name}", server_command(
                model, port, "--metrics-port", "0", "--grace-seconds", "1", "--log-level", "INFO",
            ), tmp_path / f"server-{name}.log")
            proc.address = f"{LOOPBACK}:{port}"
            started.append(proc)
            servers.append(proc)
        for proc in servers:
            wait_serving(proc.address, proc)

        listen = f"{LOOPBACK}:{free_port()}"
        env = dict(os.environ,
                   BALANCER_UPSTREAMS=" ".join(p.address for p in servers),
                   BALANCER_LISTEN=listen,
                   BALANCER_PREFIX=str(tmp_path / "nginx"),
                   PATH=f"{Path(NGINX).parent}:{os.environ.get('PATH', '')}")
        nginx = Process("nginx", ["sh", str(RUN_BALANCER)], tmp_path / "nginx.log", env=env)
        started.append(nginx)
        wait_serving(listen, nginx, seconds=15)  # health checks pass through the balancer to a replica
        yield listen, servers, nginx
    finally:
        for proc in reversed(started):
            proc.stop()


def test_balancer_spreads_streams_and_survives_a_dead_replica(cluster):
    address, servers, nginx = cluster
    samples = speech_like(4.0)  # 4 s at hop 1 s: 2 windows, then the summary

    # Sequential streams: with no stream open anywhere, least_conn takes the replicas in turn.
    tags = [f"lb-before-{i}" for i in range(6)]
    for tag in tags:
        check_complete(stream_through(address, tag, samples), tag, windows=2)
    placement = {tag: served_by(servers, tag) for tag in tags}
    assert all(len(where) == 1 for where in placement.values()), placement
    per_server = {s.name: sum(where == [s.name] for where in placement.values()) for s in servers}
    assert all(n >= 2 for n in per_server.values()), f"streams not spread over both replicas: {per_server}"

    # A replica dies (SIGKILL: no graceful shutdown, its connections just drop). New streams must all succeed,
    # on the replica that is left, including the ones nginx first tries on the dead one.
    dead, alive = servers
    dead.kill()
    tags = [f"lb-after-{i}" for i in range(6)]
    for tag in tags:
        check_complete(stream_through(address, tag, samples), tag, windows=2)
        assert served_by(servers, tag) == [alive.name]
    assert nginx.proc.poll() is None, nginx.text()


def test_a_replica_dying_mid_stream_ends_the_stream_and_the_retry_lands_elsewhere(cluster):
    """A stream whose replica dies under it fails; the client's next attempt (it reconnects and re-sends from its
    first window without a result) goes to the live replica.

    Through nginx the failure is INTERNAL "Stream removed" (nginx resets the client's HTTP/2 stream with
    INTERNAL_ERROR), not UNAVAILABLE as from a server that dies on a direct connection: a client that reconnects
    only on UNAVAILABLE must also treat this reset as a transport failure to survive it behind the balancer.
    """
    address, servers, _ = cluster
    samples = speech_like(30.0)
    tag = "lb-mid-stream"

    def paced() -> Iterator[pb.StreamEmotionsRequest]:
        for i, request in enumerate(requests(samples, tag)):
            if i > 1:
                time.sleep(0.25)  # real time, so the stream is still open when its replica dies
            yield request

    with grpc.insecure_channel(address) as channel:
        call = emotion_pb2_grpc.EmotionServiceStub(channel).StreamEmotions(paced(), timeout=RPC_SECONDS)
        first = next(call)  # the first window: the stream is open on one replica
        assert first.WhichOneof("result") == "window"
        (owner,) = [s for s in servers if s.name in served_by(servers, tag)]
        owner.kill()
        with pytest.raises(grpc.RpcError) as failure:
            for _ in call:
                pass
        call.cancel()
    code, details = failure.value.code(), failure.value.details() or ""
    assert code == grpc.StatusCode.UNAVAILABLE or (code == grpc.StatusCode.INTERNAL and "RST_STREAM" in details), \
        failure.value

    retry_tag = "lb-mid-stream-retry"
    check_complete(stream_through(address, retry_tag, speech_like(4.0)), retry_tag, windows=2)
    assert served_by(servers, retry_tag) == [s.name for s in servers if s is not owner]


def test_twenty_live_client_sessions_survive_a_replica_killed_under_them(cluster, tmp_path):
    """20 real client sessions stream in real time through the balancer; one replica is SIGKILLed mid-way. Every
    session ends with each of its windows exactly once (the client re-sends from its first window without a
    result) and a summary over all of them."""
    import soundfile as sf

    from speechsense.client.connection import Connector
    from speechsense.client.display import RecordingSink
    from speechsense.client.options import ClientOptions
    from speechsense.client.session import StreamSession
    from speechsense.client.sources import FileSource

    address, servers, _ = cluster
    clip = tmp_path / "talk.wav"
    sf.write(clip, speech_like(10.0), RATE, subtype="PCM_16")  # 8 windows at the 1 s hop
    results: dict[int, object] = {}

    def session(i: int) -> None:
        opts = ClientOptions(server=address, backoff_initial=0.2, backoff_max=1.0, retries=10,
                             session_tag=f"live-{i}")
        try:
            results[i] = StreamSession(opts, Connector(opts), FileSource(clip, speed=2.0), RecordingSink()).run()
        except Exception as exc:  # reported below, with the others
            results[i] = exc

    threads = [threading.Thread(target=session, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    time.sleep(2.5)  # every session has windows in flight on both replicas
    holding = [s for s in servers if "live-" in s.text()]
    servers[0].kill()
    for t in threads:
        t.join(90)
    assert len(holding) == 2, "the sessions were not spread over both replicas"
    failed = {i: r for i, r in results.items() if isinstance(r, Exception)}
    assert not failed and len(results) == 20, failed
    for result in results.values():
        assert [w.index for w in result.windows] == list(range(8))
        assert result.summary.windows_analyzed == 8
    assert sum(r.reconnects for r in results.values()) >= 1  # the kill really cut streams
