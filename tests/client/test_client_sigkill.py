"""Fault: the server process is killed with SIGKILL mid-stream and restarted; no window is lost or doubled."""

from __future__ import annotations

import pytest
from server_process import free_port, start_server

from speechsense.client.connection import Connector
from speechsense.client.session import StreamSession
from speechsense.client.sources import FileSource

pytestmark = pytest.mark.slow  # two server processes, one after the other on one port


def test_sigkill_mid_stream_then_restart(tiny_model_path, tmp_path, clip_file, client_options, clip_windows,
                                         bouncing_sink):
    port = free_port()
    procs = [start_server(tiny_model_path, port=port, log=tmp_path / "a.log")[0]]

    def kill_and_restart() -> None:
        procs[0].kill()
        procs[0].wait()
        procs.append(start_server(tiny_model_path, port=port, log=tmp_path / "b.log")[0])

    sink = bouncing_sink(kill_and_restart, window=1)
    try:
        opts = client_options(f"127.0.0.1:{port}", file=clip_file, retries=12)
        result = StreamSession(opts, Connector(opts), FileSource(clip_file, speed=2.0), sink).run()
        sink.thread.join(60)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert len(procs) == 2 and result.reconnects >= 1
    n = clip_windows(result.plan)
    assert [w.index for w in result.windows] == list(range(n))
    assert result.summary.windows_analyzed == n


def test_twenty_live_sessions_survive_the_only_server_killed_and_restarted(tiny_model_path, tmp_path, client_options):
    """20 sessions stream in real time to one server; it is SIGKILLed and a new one starts on its port. Every
    session ends with each of its windows exactly once."""
    import threading
    import time

    import soundfile as sf
    from synth import RATE, speech_like

    from speechsense.client.display import RecordingSink

    clip = tmp_path / "talk.wav"
    sf.write(clip, speech_like(10.0), RATE, subtype="PCM_16")  # 8 windows at the 1 s hop
    port = free_port()
    procs = [start_server(tiny_model_path, port=port, log=tmp_path / "a.log")[0]]
    results: dict[int, object] = {}

    def session(i: int) -> None:
        opts = client_options(f"127.0.0.1:{port}", retries=20)
        try:
            results[i] = StreamSession(opts, Connector(opts), FileSource(clip, speed=2.0), RecordingSink()).run()
        except Exception as exc:  # reported below, with the others
            results[i] = exc

    threads = [threading.Thread(target=session, args=(i,)) for i in range(20)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while (tmp_path / "a.log").read_text().count("stream opened") < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        procs[0].kill()
        procs[0].wait()
        procs.append(start_server(tiny_model_path, port=port, log=tmp_path / "b.log")[0])
        for t in threads:
            t.join(120)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    failed = {i: r for i, r in results.items() if isinstance(r, Exception)}
    assert not failed and len(results) == 20, failed
    for result in results.values():
        assert [w.index for w in result.windows] == list(range(8))
        assert result.summary.windows_analyzed == 8 and result.reconnects >= 1
