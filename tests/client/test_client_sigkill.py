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
