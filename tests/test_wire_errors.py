"""Bytes that are not the request message, sent over a real socket: a prompt INVALID_ARGUMENT, a freed slot.

Regression tests for a hang: a stream whose reader met an undecodable message used to wait on its
queue forever, holding its slot, while later audio was ignored.
"""

from __future__ import annotations

import time

import grpc
import pytest
from rawclient import RawClient
from test_errors import config, open_gauge, pcm16

from speechsense.server.session import AudioSession
from speechsense.v1 import emotion_pb2 as pb

INVALID = grpc.StatusCode.INVALID_ARGUMENT
GARBAGE = b"\xff\xff\xff"  # a field tag whose varint never ends


def raw(message) -> bytes:
    return message.SerializeToString()


def tagged_config(tag_bytes: bytes) -> bytes:
    """A config whose session_tag holds tag_bytes, whatever they are (the stub would refuse non-UTF-8)."""
    return raw(config()) + b"\x0a" + bytes([len(tag_bytes) + 2]) + b"\x1a" + bytes([len(tag_bytes)]) + tag_bytes


@pytest.fixture
def raw_client(server_address):
    with grpc.insecure_channel(server_address) as channel:
        yield RawClient(channel)


def wait_gauge_zero(server, seconds: float = 5) -> float:
    deadline = time.monotonic() + seconds
    while open_gauge(server) != 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    return open_gauge(server)


def test_bad_message_mid_stream_ends_it_promptly_and_frees_the_slot(server_factory):
    server = server_factory()
    with grpc.insecure_channel(server.address) as channel:
        out = RawClient(channel).run_stream([raw(config()), raw(pb.StreamEmotionsRequest(audio=pcm16(4.0))),
                                             GARBAGE, raw(pb.StreamEmotionsRequest(audio=pcm16(2.0)))],
                                            timeout=30, hold_open=True)  # only the server can end it
    assert out.code == INVALID, out.details
    assert "message 3 of the stream" in out.details and "StreamEmotionsRequest" in out.details
    assert out.seconds_after_last < 2
    assert [r.window.index for r in out.responses] == [0, 1]  # windows accepted before it are delivered
    assert wait_gauge_zero(server) == 0


@pytest.mark.parametrize(("first", "words"), [
    (GARBAGE, "message 1 of the stream is not a valid"),
    (b"\x0a\x05\x0a", "message 1 of the stream is not a valid"),  # config longer than the bytes that follow
    (tagged_config(b"\xff\xfe"), "session_tag is not UTF-8"),
])
def test_undecodable_first_message(raw_client, first, words):
    out = raw_client.run_stream([first], hold_open=True)
    assert out.code == INVALID and words in out.details
    assert out.seconds_after_last < 2


def test_valid_utf8_tag_through_raw_bytes_is_accepted(raw_client):
    out = raw_client.run_stream([tagged_config("é".encode())])
    assert out.code == grpc.StatusCode.OK, out.details
    assert out.responses[-1].session_tag == "é"


@pytest.mark.parametrize("data", [GARBAGE, b"\x12\x80", raw(pb.AnalyzeClipRequest(encoded=b"junk" * 10))])
def test_garbage_clip_request(raw_client, data):
    out = raw_client.run_clip(data)
    assert out.code == INVALID
    assert "0x" not in out.details and "<" not in out.details  # no Python repr in what the client reads


def test_garbage_model_info_request(raw_client):
    with pytest.raises(grpc.RpcError) as err:
        raw_client.info(GARBAGE, timeout=10)
    assert err.value.code() == INVALID and "GetModelInfoRequest" in err.value.details()


@pytest.mark.parametrize("data", [GARBAGE, b"\x12\x80", raw(pb.CreateSpeakerProfileRequest(encoded=b"junk" * 10))])
def test_garbage_profile_request(raw_client, data):
    """Checked before the model's calibration support: bytes that are not a request are the client's error."""
    with pytest.raises(grpc.RpcError) as err:
        raw_client.profile(data, timeout=10)
    assert err.value.code() in (INVALID, grpc.StatusCode.FAILED_PRECONDITION)
    if data is GARBAGE:
        assert err.value.code() == INVALID and "CreateSpeakerProfileRequest" in err.value.details()


def test_unexpected_reader_error_ends_the_stream_with_internal(server_factory, monkeypatch):
    """An error that is not the client's (a bug) still ends the stream at once, with a status, and frees it."""
    server = server_factory()

    def broken(self, data):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(AudioSession, "push_pcm", broken)
    with grpc.insecure_channel(server.address) as channel:
        out = RawClient(channel).run_stream([raw(config()), raw(pb.StreamEmotionsRequest(audio=pcm16(1.0)))],
                                            hold_open=True)
    assert out.code == grpc.StatusCode.INTERNAL and "simulated" not in out.details
    assert out.seconds_after_last < 2
    assert wait_gauge_zero(server) == 0
