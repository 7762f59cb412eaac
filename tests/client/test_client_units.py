"""Unit tests of the client's parts that need no server."""

from __future__ import annotations

import argparse
import threading

import numpy as np
import pytest

from speechsense.audio import Encoding, PcmFormat
from speechsense.client.audiolog import AudioLog
from speechsense.client.connection import Backoff, Connector
from speechsense.client.display import RecordingSink, bar
from speechsense.client.main import build_parser, options_from
from speechsense.client.options import ClientError, ClientOptions, OptionsError
from speechsense.client.results import WindowView, summarize
from speechsense.client.session import StreamSession, WindowPlan
from speechsense.client.sources import FileSource, to_linear16
from speechsense.labels import LABELS
from speechsense.v1 import emotion_pb2 as pb


def test_audio_log_reads_trims_and_ends():
    log = AudioLog(2)
    log.append(b"abcd")
    assert log.read(0, 100, timeout=0) == b"abcd"
    assert log.read(2, 1, timeout=0) == b"c"
    assert log.read(4, 10, timeout=0.01) == b""  # nothing yet
    log.trim(2)
    assert (log.start, log.end) == (2, 4)
    with pytest.raises(ValueError, match="trimmed"):
        log.read(0, 10, timeout=0)
    with pytest.raises(ValueError, match="whole number"):
        log.append(b"x")
    log.close()
    assert log.read(2, 10, timeout=0) == b"cd"
    assert log.read(4, 10, timeout=1) is None


def test_audio_log_wakes_a_waiting_reader():
    log = AudioLog(2)
    got = []
    reader = threading.Thread(target=lambda: got.append(log.read(0, 10, timeout=5)))
    reader.start()
    log.append(b"zz")
    reader.join(5)
    assert got == [b"zz"]


def test_backoff_is_exponential_bounded_and_resets():
    slept = []
    b = Backoff(initial=0.5, maximum=2.0, tries=4, jitter=0, sleep=slept.append)
    assert [b.wait() for _ in range(5)] == [True] * 4 + [False]
    assert slept == [0.5, 1.0, 2.0, 2.0]
    b.reset()
    assert b.next_delay() == 0.5


def view(index, scores, speech=True, hop=1.0):
    top = max(scores, key=scores.get) if speech else ""
    return WindowView(index, index * hop, index * hop + 3, scores, top, scores.get(top, 0.0), speech)


def test_summarize_means_over_speech_windows_only():
    a = dict.fromkeys(LABELS, 0.0) | {"happy": 0.8, "sad": 0.2}
    b = dict.fromkeys(LABELS, 0.0) | {"happy": 0.2, "sad": 0.8}
    c = dict.fromkeys(LABELS, 0.0) | {"sad": 1.0}
    silent = dict.fromkeys(LABELS, 0.0)
    s = summarize([view(0, a), view(1, silent, speech=False), view(2, b), view(3, c)], 6.0)
    assert s.mean_scores["sad"] == pytest.approx(2.0 / 3) and s.mean_scores["happy"] == pytest.approx(1.0 / 3)
    assert tuple(s.mean_scores) == LABELS
    assert s.dominant_label == "sad" and s.top_label_counts == {"happy": 1, "sad": 2}
    assert (s.windows_analyzed, s.windows_skipped_silence, s.source) == (4, 1, "client")
    empty = summarize([], 0.0, LABELS)
    assert empty.dominant_label == "" and set(empty.mean_scores.values()) == {0.0}


def test_window_from_proto_maps_a_resumed_stream_into_session_time():
    w = pb.WindowResult(index=2, start_seconds=2.0, end_seconds=5.0, top_label="sad", top_score=0.9,
                        is_speech=True, scores=[pb.LabelScore(label="sad", score=0.9)])
    v = WindowView.from_proto(w, index_offset=4, seconds_offset=4.0)
    assert (v.index, v.start_seconds, v.end_seconds) == (6, 6.0, 9.0)
    assert v.to_json()["scores"] == {"sad": pytest.approx(0.9)}


def test_bar_lengths():
    assert bar(0.0, 8) == " " * 8
    assert bar(1.0, 8) == "█" * 8
    assert bar(0.5, 8) == "████    "
    assert len(bar(0.33, 10)) == 10


def test_options_validation():
    with pytest.raises(OptionsError, match="host:port"):
        ClientOptions(server="localhost")
    with pytest.raises(OptionsError, match="--ca-cert needs --tls"):
        ClientOptions(ca_cert="x.pem")
    with pytest.raises(OptionsError, match="--hop"):
        ClientOptions(window_seconds=1.0, hop_seconds=2.0)
    with pytest.raises(OptionsError, match="--fast"):
        ClientOptions(fast=True)
    with pytest.raises(OptionsError, match="--deadline"):
        ClientOptions(deadline=0)


def test_options_from_flags_then_env_then_defaults():
    parse = build_parser().parse_args
    env = {"SPEECHSENSE_SERVER": "envhost:1", "SPEECHSENSE_TOKEN": "envtok"}
    opts = options_from(parse([]), env)
    assert (opts.server, opts.token) == ("envhost:1", "envtok")
    opts = options_from(parse(["--server", "flag:2", "--token", "t"]), env)
    assert (opts.server, opts.token) == ("flag:2", "t")
    opts = options_from(parse([]), {})
    assert (opts.server, opts.token) == ("localhost:50051", None)
    assert isinstance(parse([]), argparse.Namespace)


def test_connector_metadata_deadline_and_tls(tmp_path):
    assert Connector(ClientOptions()).metadata == ()
    assert Connector(ClientOptions(token="abc")).metadata == (("authorization", "Bearer abc"),)
    now = [100.0]
    c = Connector(ClientOptions(deadline=5), clock=lambda: now[0])
    assert c.timeout() == 5
    now[0] = 106.0
    with pytest.raises(ClientError, match="deadline"):
        c.timeout()
    assert Connector(ClientOptions()).timeout() is None
    ca = tmp_path / "ca.pem"
    ca.write_text("not a real certificate")
    tls = Connector(ClientOptions(tls=True, ca_cert=ca))
    tls.stub()  # a secure channel is created lazily; no connection is made here
    tls.close()


def test_file_source_paces_in_real_time(tmp_path):
    import soundfile as sf

    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(8_000 * 3, np.float32), 8_000)  # 3 s at 8 kHz: resampled to 16 kHz
    now, slept = [0.0], []

    def sleep(s):
        slept.append(s)
        now[0] += s

    src = FileSource(path, speed=1.0, sleep=sleep, clock=lambda: now[0])
    chunks = list(src)
    assert len(chunks) == 30 and all(len(c) == 3_200 for c in chunks)
    assert now[0] == pytest.approx(2.9)
    assert src.seconds == pytest.approx(3.0)
    fast = FileSource(path, speed=None, sleep=sleep)
    slept.clear()
    assert len(list(fast)) == 30 and slept == []


def test_to_linear16_clips_and_scales():
    pcm = np.frombuffer(to_linear16(np.array([0.0, 0.5, 1.5, -2.0], np.float32)), "<i2")
    assert pcm.tolist() == [0, 16384, 32767, -32767]


def test_lag_is_reported_not_dropped():
    class LiveSource:
        format = PcmFormat(Encoding.LINEAR16, 16_000, 1)
        chunk_frames = 1_600
        live = True

        def __iter__(self):
            return iter(())

    sink = RecordingSink()
    opts = ClientOptions(lag_warning_seconds=1.0)
    session = StreamSession(opts, Connector(opts), LiveSource(), sink)
    session.plan = WindowPlan(3.0, 1.0)
    session.log.append(b"\0\0" * 16_000 * 4)
    session._check_lag()
    assert sink.messages == []
    session.log.append(b"\0\0" * 16_000 * 2)  # 6 s waiting > 3 + 1 + 1
    session._check_lag()
    assert len(sink.messages) == 1 and "behind real time" in sink.messages[0]
    assert session.log.end - session.log.start == 6 * 32_000  # nothing dropped
