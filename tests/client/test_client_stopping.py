"""Ending a session early: the stop event (Enter, first Ctrl-C), SIGINT handling, the deadline."""

from __future__ import annotations

import io
import os
import signal
import threading

import numpy as np
import pytest

from speechsense.client.connection import Connector
from speechsense.client.display import RecordingSink
from speechsense.client.main import run_client, stop_controls
from speechsense.client.options import ClientError
from speechsense.client.session import StreamSession
from speechsense.client.sources import MicrophoneSource


def endless(seconds: int = 60) -> np.ndarray:
    return np.tile(np.random.default_rng(0).uniform(-0.3, 0.3, 16_000).astype(np.float32), seconds)


def test_stop_half_closes_and_still_gets_the_summary(server_address, fake_pyaudio, client_options):
    module = fake_pyaudio(endless(), pace=1.0)  # real time
    sink, stop = RecordingSink(), threading.Event()
    opts = client_options(server_address)
    timer = threading.Timer(4.5, stop.set)
    timer.start()
    with MicrophoneSource(module, report=sink.status) as mic:
        result = StreamSession(opts, Connector(opts), mic, sink, stop).run()
    timer.join()
    assert 4.4 <= result.summary.audio_seconds <= 5.5
    assert result.summary.source == "server" and len(sink.summaries) == 1
    assert [w.index for w in result.windows] == list(range(len(result.windows)))
    assert 2 <= len(result.windows) <= 3  # 3 s windows at a 1 s hop over about 4.5 s


def test_first_ctrl_c_stops_gracefully_second_aborts():
    stop, sink = threading.Event(), RecordingSink()
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN, not Python's handler, when started in the background
    with stop_controls(stop, sink, stdin=None):
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.wait(2)
        assert "stopping" in sink.messages[0]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            threading.Event().wait(2)  # the handler raises here
    assert signal.getsignal(signal.SIGINT) is before


def test_deadline_ends_the_session_with_an_error(server_address, fake_pyaudio, client_options):
    module = fake_pyaudio(endless(), pace=1.0)
    opts = client_options(server_address, deadline=1.5)
    with pytest.raises(ClientError, match="DEADLINE_EXCEEDED"):
        run_client(opts, io.StringIO(), io.StringIO(), pyaudio_module=module)
    assert module.streams[0].closed
