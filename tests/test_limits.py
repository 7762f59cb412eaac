"""No client can hold the server: quiet streams and sockets end, one peer is held to its share, slow bodies time out.

Over real sockets, gRPC and the web front end alike, each with its documented status and close code.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time

import aiohttp
import grpc
import pytest

from speechsense.server.config import WebOptions
from speechsense.synthetic import speech_like
from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc

pytestmark = pytest.mark.slow
CONFIG = pb.StreamConfig(format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=16000))
WEB_CONFIG = {"format": {"encoding": "AUDIO_ENCODING_LINEAR16", "sampleRateHz": 16000}}


def pcm(seconds: float) -> bytes:
    return (speech_like(seconds) * 20000).astype("<i2").tobytes()


def run(coro, seconds: float = 30):
    return asyncio.run(asyncio.wait_for(coro, seconds))


async def quiet_grpc_stream(address: str, audio: bytes = b"") -> tuple[list, grpc.StatusCode, str]:
    """A config (and audio), then nothing: what the server sends before it ends the call, and how it ends it."""
    async def requests():
        yield pb.StreamEmotionsRequest(config=CONFIG)
        if audio:
            yield pb.StreamEmotionsRequest(audio=audio)
        await asyncio.Event().wait()  # never half-closes

    async with grpc.aio.insecure_channel(address) as channel:
        call = emotion_pb2_grpc.EmotionServiceStub(channel).StreamEmotions(requests())
        responses = []
        try:
            async for response in call:
                responses.append(response)
        except grpc.aio.AioRpcError:
            pass
        return responses, await call.code(), await call.details()


def refused_stream(address: str) -> tuple[grpc.StatusCode, str]:
    """A stream the server refuses at once: its status, read with the sync API. (grpc's asyncio client can report
    INTERNAL "Internal error from Core" instead, when its write of the config loses the race with the refusal:
    grpc/grpc#36066.)"""
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as refused:
        list(emotion_pb2_grpc.EmotionServiceStub(channel).StreamEmotions(
            iter([pb.StreamEmotionsRequest(config=CONFIG)]), timeout=10))
    return refused.value.code(), refused.value.details()


def test_a_quiet_grpc_stream_gets_its_summary_then_deadline_exceeded(server_factory):
    server = server_factory(idle_seconds=1.0)
    responses, code, details = run(quiet_grpc_stream(server.address, pcm(3.5)))
    assert [r.WhichOneof("result") for r in responses] == ["window", "summary"]
    assert responses[-1].summary.end_reason == pb.END_REASON_IDLE_TIMEOUT
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED and "no message for 1 s" in details
    assert server.server.metrics.registry.get_sample_value("speechsense_refusals_total", {"reason": "idle"}) == 1


def test_quiet_streams_that_fill_the_server_end_and_a_new_stream_is_then_served(server_factory):
    server = server_factory(idle_seconds=1.5, max_streams=4)

    async def scenario():
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = emotion_pb2_grpc.EmotionServiceStub(channel)
            quiet = [asyncio.create_task(quiet_grpc_stream(server.address)) for _ in range(4)]
            while server.server.analyzer.open_streams < 4:
                await asyncio.sleep(0.02)
            refused = await asyncio.to_thread(refused_stream, server.address)
            started = time.monotonic()
            ended = await asyncio.gather(*quiet)
            served = [r async for r in stub.StreamEmotions(iter([
                pb.StreamEmotionsRequest(config=CONFIG), pb.StreamEmotionsRequest(audio=pcm(3.0))]))]
            return refused[0], ended, served, time.monotonic() - started

    refused, ended, served, waited = run(scenario())
    assert refused == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert {(code, bool(responses)) for responses, code, _ in ended} == {(grpc.StatusCode.DEADLINE_EXCEEDED, False)}
    assert [r.WhichOneof("result") for r in served] == ["window", "summary"] and waited < 1.5 + 5


def test_one_grpc_peer_is_held_to_its_share(server_factory):
    server = server_factory(max_streams_per_peer=2, idle_seconds=2.0)

    async def scenario():
        quiet = [asyncio.create_task(quiet_grpc_stream(server.address)) for _ in range(2)]
        while server.server.analyzer.open_streams < 2:
            await asyncio.sleep(0.02)
        third = await asyncio.to_thread(refused_stream, server.address)
        await asyncio.gather(*quiet)
        return third

    code, details = run(scenario())
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "127.0.0.1 holds 2 streams" in details
    assert server.server.metrics.registry.get_sample_value("speechsense_refusals_total", {"reason": "peer_limit"}) == 1


async def web_socket(address: str, messages: list, local: str | None = None) -> tuple[list[dict], int | None]:
    connector = aiohttp.TCPConnector(local_addr=(local, 0)) if local else None
    async with aiohttp.ClientSession(connector=connector) as session, \
            session.ws_connect(f"ws://{address}/v1/stream") as ws:
        for message in messages:
            await (ws.send_bytes(message) if isinstance(message, bytes) else ws.send_str(json.dumps(message)))
        replies = [json.loads(m.data) async for m in ws if m.type is aiohttp.WSMsgType.TEXT]
    return replies, ws.close_code


@pytest.fixture
def web(server_factory):
    def make(**overrides):
        handle = server_factory(web=WebOptions(port=0, body_timeout_seconds=1.0), **overrides)
        return handle, f"127.0.0.1:{handle.server.web_port}"

    return make


def test_a_quiet_socket_gets_its_summary_then_close_code_4004(web):
    _, address = web(idle_seconds=1.0)
    replies, close = run(web_socket(address, [WEB_CONFIG, pcm(3.5)]))
    assert [next(iter(r)) for r in replies] == ["window", "summary", "error"]
    assert replies[1]["summary"]["endReason"] == "END_REASON_IDLE_TIMEOUT"
    assert replies[2]["error"]["code"] == "DEADLINE_EXCEEDED" and close == 4004


def test_one_web_peer_is_refused_before_the_upgrade_and_another_served(web):
    _, address = web(max_streams_per_peer=1, idle_seconds=2.0)

    async def scenario():
        holder = asyncio.create_task(web_socket(address, [WEB_CONFIG]))  # config, then quiet
        await asyncio.sleep(0.5)
        async with aiohttp.ClientSession() as session, session.get(
                f"http://{address}/v1/stream", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                        "Sec-WebSocket-Version": "13",
                                                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as reply:
            refused = reply.status, await reply.json()
        other = await web_socket(address, [WEB_CONFIG, pcm(3.0), {"end": True}], local="127.0.0.2")
        return refused, other, await holder

    (status, body), (replies, close), (held, held_close) = run(scenario())
    assert status == 429 and "127.0.0.1 holds 1 streams" in body["error"]["message"]
    assert close == 1000 and "summary" in replies[-1]
    assert held_close == 4004 and held[-1]["error"]["code"] == "DEADLINE_EXCEEDED"


def test_an_http_body_that_trickles_is_refused_with_408(web):
    _, address = web()
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\nContent-Length: 1000\r\n\r\n"
                     b"RIFF")
        reply = conn.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 408") and "DEADLINE_EXCEEDED" in reply


def test_limit_flags_and_environment_reach_the_options(monkeypatch, tiny_model_path):
    from speechsense.server.main import build_parser, options_from_args

    monkeypatch.setenv("SPEECHSENSE_MAX_STREAMS_PER_PEER", "3")
    options = options_from_args(build_parser().parse_args(["--model", str(tiny_model_path), "--idle-seconds", "7",
                                                           "--web-body-timeout", "4"]))
    assert (options.idle_seconds, options.max_streams_per_peer, options.web.body_timeout_seconds) == (7.0, 3, 4.0)
