"""The web front end over real sockets: WebSocket /v1/stream, POST /v1/analyze, GET /v1/model, and the page.

Every refusal gets its documented answer (an error message naming the gRPC code and close code 4000 +
that code, or an HTTP status before the upgrade), and the server stays healthy afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
import shutil
import socket
import ssl
import subprocess
import time

import aiohttp
import grpc
import pytest
import soundfile as sf
import websockets
from harness import ServerHandle
from synth import speech_like, syllables

from speechsense.server.config import WebOptions
from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc

pytestmark = pytest.mark.slow  # each test but one talks to a server of this module's (web front end on)
TOKEN = "web-s3cret"
CONFIG = {"format": {"encoding": "AUDIO_ENCODING_LINEAR16", "sampleRateHz": 16000}, "sessionTag": "web"}


def pcm(seconds: float) -> bytes:
    return (speech_like(seconds) * 20000).astype("<i2").tobytes()


@pytest.fixture(scope="module")
def web_server(base_options):
    handle = ServerHandle(dataclasses.replace(base_options, web=WebOptions(port=0, max_frame_bytes=8192,
                                                                           config_timeout_seconds=1.0)))
    handle.web = f"127.0.0.1:{handle.server.web_port}"
    yield handle
    handle.stop()


@pytest.fixture
def make_web(server_factory):
    """make(web=WebOptions(...), **server_overrides) -> a started ServerHandle with .web = host:port."""

    def make(web: WebOptions | None = None, **overrides) -> ServerHandle:
        handle = server_factory(web=web or WebOptions(port=0), **overrides)
        handle.web = f"127.0.0.1:{handle.server.web_port}"
        return handle

    return make


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def converse(address: str, messages: list, headers: dict | None = None, scheme: str = "ws",
                   ssl_context: ssl.SSLContext | bool = True) -> tuple[list[dict], int | None]:
    """Send messages (dict: JSON text, str: raw text, bytes: binary), then read everything: (replies, close code)."""
    async with aiohttp.ClientSession() as session, session.ws_connect(
            f"{scheme}://{address}/v1/stream", headers=headers, ssl=ssl_context) as ws:
        for message in messages:
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            else:
                await ws.send_str(message if isinstance(message, str) else json.dumps(message))
        replies = [json.loads(msg.data) async for msg in ws if msg.type is aiohttp.WSMsgType.TEXT]
    if scheme == "wss":
        await asyncio.sleep(0.25)  # the TLS close completes after the session's (aiohttp's documented advice)
    return replies, ws.close_code


def stream(audio: bytes, chunk: int = 3200) -> list:
    return [CONFIG, *(audio[i:i + chunk] for i in range(0, len(audio), chunk)), {"end": True}]


def expect_error(result, code: str) -> str:
    replies, close = result
    assert replies[-1]["error"]["code"] == code, replies
    assert close == 4000 + grpc.StatusCode[code].value[0]
    return replies[-1]["error"]["message"]


def wait_idle(handle: ServerHandle) -> None:
    """Open streams back to 0 (the servicer's count, shared with gRPC)."""
    deadline = time.monotonic() + 10
    while handle.server.analyzer.open_streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert handle.server.analyzer.open_streams == 0
    assert handle.server.metrics.registry.get_sample_value("speechsense_open_streams") == 0


def test_stream_matches_grpc_for_the_same_audio(web_server):
    audio = pcm(5.0)
    replies, close = run(converse(web_server.web, stream(audio)))
    assert close == 1000
    windows, summary = [r["window"] for r in replies[:-1]], replies[-1]["summary"]
    assert all(r["sessionTag"] == "web" for r in replies)
    assert [int(w["index"]) for w in windows] == [0, 1, 2]
    assert summary["windowsAnalyzed"] == 3 and summary["endReason"] == "END_REASON_CLIENT_CLOSED"
    with grpc.insecure_channel(web_server.address) as channel:
        config = pb.StreamConfig(format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=16000))
        requests = [pb.StreamEmotionsRequest(config=config)] + [
            pb.StreamEmotionsRequest(audio=audio[i:i + 3200]) for i in range(0, len(audio), 3200)]
        expected = list(emotion_pb2_grpc.EmotionServiceStub(channel).StreamEmotions(iter(requests), timeout=20))
    for window, reference in zip(windows, expected, strict=False):
        assert [s["score"] for s in window["scores"]] == pytest.approx(
            [s.score for s in reference.window.scores], abs=1e-6)
        assert window["topLabel"] == reference.window.top_label


def test_json_audio_messages_and_utterance_mode(web_server):
    audio = (syllables(4.0) * 20000).astype("<i2").tobytes()
    config = {**CONFIG, "segmentation": "SEGMENTATION_UTTERANCES"}
    messages = [config, *({"audio": base64.b64encode(audio[i:i + 3200]).decode()} for i in range(0, len(audio), 3200)),
                {"end": True}]
    replies, close = run(converse(web_server.web, messages))
    assert close == 1000 and "summary" in replies[-1]
    assert replies[-1]["summary"]["utterancesAnalyzed"] == len(replies) - 1 >= 1
    assert all("utterance" in r for r in replies[:-1])


@pytest.mark.parametrize(("first", "needle"), [
    ("hello", "JSON"),
    ({"format": {"encoding": "AUDIO_ENCODING_UNSPECIFIED", "sampleRateHz": 16000}}, "unsupported audio encoding"),
    ({"format": {"encoding": "AUDIO_ENCODING_LINEAR16", "sampleRateHz": 4000}}, "8000"),
    ({**CONFIG, "window": {"windowSeconds": 9}}, "window_seconds"),
    ({**CONFIG, "bogus": 1}, "bogus"),
    ({**CONFIG, "utterance": {"closingSilenceSeconds": 99}}, "closing_silence_seconds"),
    (b"\x00\x01", "first message must be a text StreamConfig"),
])
def test_a_bad_first_message_is_invalid_argument_naming_what_is_wrong(web_server, first, needle):
    message = expect_error(run(converse(web_server.web, [first, pcm(0.2)])), "INVALID_ARGUMENT")
    assert needle in message
    wait_idle(web_server)


@pytest.mark.parametrize(("later", "code", "needle"), [
    (b"\x00\x01\x02", "INVALID_ARGUMENT", "whole number"),  # odd byte length for LINEAR16
    (b"\x00" * 8194, "RESOURCE_EXHAUSTED", "exceeds the limit of 8192"),  # over --web-max-frame-bytes
    ("not json", "INVALID_ARGUMENT", "JSON"),  # text where binary is due
    ({"samples": [1, 2]}, "INVALID_ARGUMENT", "samples"),
    ({"audio": 12}, "INVALID_ARGUMENT", "audio"),
    ({"config": CONFIG}, "INVALID_ARGUMENT", "only the first message"),
])
def test_a_bad_message_after_the_config_ends_the_stream_with_its_status(web_server, later, code, needle):
    message = expect_error(run(converse(web_server.web, [CONFIG, pcm(0.2), later, pcm(0.2)])), code)
    assert needle in message
    wait_idle(web_server)


def test_frame_far_over_the_cap_is_cut_off_unread(web_server):
    replies, close = run(converse(web_server.web, [CONFIG, b"\x00" * 20000]))
    assert close == 1009 and replies == []
    wait_idle(web_server)


def test_a_socket_that_sends_no_config_gets_deadline_exceeded(web_server):
    async def silent():
        async with aiohttp.ClientSession() as session, session.ws_connect(f"ws://{web_server.web}/v1/stream") as ws:
            return [json.loads(m.data) async for m in ws], ws.close_code

    assert "no config" in expect_error(run(silent()), "DEADLINE_EXCEEDED")


@pytest.mark.parametrize("how", ["close", "abort"])
def test_a_client_vanishing_mid_stream_releases_its_stream(web_server, how):
    """A close without {"end": true}, or a dropped connection: the call is cancelled and its state released."""
    async def vanish():
        async with websockets.connect(f"ws://{web_server.web}/v1/stream") as ws:
            await ws.send(json.dumps(CONFIG))
            for _ in range(20):
                await ws.send(pcm(0.2))
            await ws.recv()  # a window: the stream is in full flow
            assert web_server.server.analyzer.open_streams == 1
            if how == "abort":
                ws.transport.abort()
            else:
                await ws.close()

    run(vanish())
    wait_idle(web_server)
    replies, close = run(converse(web_server.web, stream(pcm(3.0))))
    assert close == 1000 and replies[-1]["summary"]["windowsAnalyzed"] == 1


def test_without_a_good_token_streams_and_http_are_refused_before_any_work(make_web):
    handle = make_web(tokens=(TOKEN,))
    audio_seconds = "speechsense_audio_seconds_total"
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:  # a wrong header: refused before the upgrade
        run(converse(handle.web, stream(pcm(3.0)), headers={"Authorization": "Bearer wrong"}))
    assert err.value.status == 401
    for first in (CONFIG, {**CONFIG, "token": "wrong"}):
        assert "token" in expect_error(run(converse(handle.web, [first, pcm(3.0)])), "UNAUTHENTICATED")
    assert handle.server.metrics.registry.get_sample_value(audio_seconds) == 0  # refused: never reached the engine
    replies, close = run(converse(handle.web, [{**CONFIG, "token": TOKEN}, pcm(3.0), {"end": True}]))
    assert close == 1000 and replies[-1]["summary"]["windowsAnalyzed"] == 1
    replies, close = run(converse(handle.web, stream(pcm(3.0)), headers={"Authorization": f"Bearer {TOKEN}"}))
    assert close == 1000

    async def model(headers):
        async with aiohttp.ClientSession() as session, session.get(f"http://{handle.web}/v1/model",
                                                                   headers=headers) as reply:
            return reply.status, await reply.json()

    status, body = run(model({}))
    assert status == 401 and body["error"]["code"] == "UNAUTHENTICATED"
    status, body = run(model({"Authorization": f"Bearer {TOKEN}"}))
    assert status == 200 and len(body["labels"]) == 8


def test_only_allowed_origins_may_open_a_socket_or_call_http(make_web):
    handle = make_web(web=WebOptions(port=0, origins=("https://app.example",)))
    for origin in ("https://evil.example", "null", f"http://127.0.0.1:{handle.server.web_port + 1}"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            run(converse(handle.web, stream(pcm(3.0)), headers={"Origin": origin}))
        assert err.value.status == 403
    for origin in (f"http://{handle.web}", "https://app.example"):
        _, close = run(converse(handle.web, stream(pcm(3.0)), headers={"Origin": origin}))
        assert close == 1000

    async def model(origin):
        async with aiohttp.ClientSession() as session, session.get(f"http://{handle.web}/v1/model",
                                                                   headers={"Origin": origin}) as reply:
            return reply.status, reply.headers.get("Access-Control-Allow-Origin")

    assert run(model("https://evil.example")) == (403, None)
    assert run(model("https://app.example")) == (200, "https://app.example")


def test_web_and_grpc_streams_share_one_stream_limit(make_web):
    handle = make_web(max_streams=1)

    async def with_grpc_stream_open():
        async with grpc.aio.insecure_channel(handle.address) as channel:
            call = emotion_pb2_grpc.EmotionServiceStub(channel).StreamEmotions()
            await call.write(pb.StreamEmotionsRequest(config=pb.StreamConfig(format=pb.AudioFormat(
                encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=16000))))
            await call.write(pb.StreamEmotionsRequest(audio=pcm(3.0)))
            await call.read()  # the gRPC stream holds the one slot
            result = await converse(handle.web, stream(pcm(3.0)))
            await call.done_writing()
            return result

    assert "limit of 1" in expect_error(run(with_grpc_stream_open()), "RESOURCE_EXHAUSTED")
    wait_idle(handle)


def test_shutdown_ends_open_sockets_with_their_summary(make_web):
    handle = make_web()

    async def open_then_stop():
        async with aiohttp.ClientSession() as session, session.ws_connect(f"ws://{handle.web}/v1/stream") as ws, \
                session.ws_connect(f"ws://{handle.web}/v1/stream") as idle:  # no config sent yet
            await ws.send_str(json.dumps(CONFIG))
            await ws.send_bytes(pcm(3.5))
            await ws.receive()  # a window arrived
            stopping = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(handle.server.stop(5), handle.loop))
            async def read(socket) -> list:  # two clients: each reads its own socket
                return [json.loads(m.data) async for m in socket]

            replies, idle_replies = await asyncio.gather(read(ws), read(idle))
            await stopping
            return (replies, ws.close_code), (idle_replies, idle.close_code)

    started = time.monotonic()
    (replies, close), idle = run(open_then_stop())
    assert close == 1001 and replies[-1]["summary"]["endReason"] == "END_REASON_SERVER_SHUTDOWN"
    assert "shutting down" in expect_error(idle, "UNAVAILABLE")
    assert time.monotonic() - started < 5  # neither waited for its timeout


def wav_bytes(seconds: float) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, speech_like(seconds), 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_analyze_and_model_over_http(web_server):
    async def calls():
        async with aiohttp.ClientSession() as session:
            base = f"http://{web_server.web}"
            async with session.post(f"{base}/v1/analyze", data=wav_bytes(4.0),
                                    headers={"Content-Type": "audio/wav"}) as reply:
                by_file = reply.status, await reply.json()
            clip = {"raw": {"format": {"encoding": "AUDIO_ENCODING_LINEAR16", "sampleRateHz": 16000},
                            "data": base64.b64encode(pcm(4.0)).decode()}, "sessionTag": "json"}
            async with session.post(f"{base}/v1/analyze", json=clip) as reply:
                by_json = reply.status, await reply.json()
            async with session.post(f"{base}/v1/analyze", data=b"not audio") as reply:
                bad = reply.status, await reply.json()
            async with session.post(f"{base}/v1/analyze", json={"raw": {"bogus": 1}}) as reply:
                bad_json = reply.status, await reply.json()
            async with session.get(f"{base}/v1/model") as reply:
                model = reply.status, await reply.json()
            async with session.get(f"{base}/") as reply:
                page = reply.status, reply.headers.get("Content-Security-Policy", ""), await reply.text()
            return by_file, by_json, bad, bad_json, model, page

    by_file, by_json, bad, bad_json, model, page = run(calls())
    assert by_file[0] == 200 and len(by_file[1]["windows"]) == 2 and by_file[1]["summary"]["windowsAnalyzed"] == 2
    assert by_json[0] == 200 and by_json[1]["sessionTag"] == "json" and len(by_json[1]["windows"]) == 2
    assert bad[0] == 400 and bad[1]["error"]["code"] == "INVALID_ARGUMENT"
    assert bad_json[0] == 400 and "bogus" in bad_json[1]["error"]["message"]
    assert model[0] == 200 and model[1]["modelName"] and model[1]["metrics"]["speakerUarMean"] > 0
    assert page[0] == 200 and "default-src 'self'" in page[1] and "<html" in page[2].lower()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("webtls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out",
                    "cert.pem", "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"], cwd=d, check=True, capture_output=True)
    return d


def test_tls_with_the_grpc_certificate_flags(make_web, self_signed):
    handle = make_web(tls_cert=self_signed / "cert.pem", tls_key=self_signed / "key.pem")
    trust = ssl.create_default_context(cafile=str(self_signed / "cert.pem"))
    replies, close = run(converse(handle.web, stream(pcm(3.0)), scheme="wss", ssl_context=trust))
    assert close == 1000 and replies[-1]["summary"]["windowsAnalyzed"] == 1
    with socket.create_connection(("127.0.0.1", handle.server.web_port), timeout=10) as plain:  # no TLS: no socket
        plain.sendall(b"GET /v1/stream HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n")
        assert not plain.recv(64).startswith(b"HTTP/")


def test_web_options_come_from_flags_and_environment(monkeypatch, tiny_model_path):
    from speechsense.server.main import build_parser, options_from_args

    off = options_from_args(build_parser().parse_args(["--model", str(tiny_model_path)]))
    assert off.web.port is None  # off by default
    monkeypatch.setenv("SPEECHSENSE_WEB_PORT", "8123")
    monkeypatch.setenv("SPEECHSENSE_WEB_ORIGINS", "https://a.example, https://b.example")
    on = options_from_args(build_parser().parse_args(["--model", str(tiny_model_path), "--web-max-frame-bytes",
                                                      "4096", "--web-config-timeout", "3"]))
    assert on.web == WebOptions(port=8123, origins=("https://a.example", "https://b.example"), max_frame_bytes=4096,
                                config_timeout_seconds=3.0)


def test_http_body_cap_and_cors_preflight(make_web):
    handle = make_web(web=WebOptions(port=0, origins=("https://app.example",)), max_message_bytes=4096)

    async def calls():
        async with aiohttp.ClientSession() as session:
            base = f"http://{handle.web}"
            async with session.post(f"{base}/v1/analyze", data=b"\0" * 200_000) as reply:
                big = reply.status, await reply.json()
            async with session.options(f"{base}/v1/analyze", headers={
                    "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization"}) as reply:
                preflight = reply.status, dict(reply.headers)
            async with session.post(f"{base}/v1/analyze", data=b"\0" * 5000) as reply:  # over 4096, under 4/3
                over = reply.status, await reply.json()
            return big, preflight, over

    big, preflight, over = run(calls())
    assert big[0] == 413 and big[1]["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert preflight[0] == 204 and preflight[1]["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Authorization" in preflight[1]["Access-Control-Allow-Headers"]
    assert over[0] == 413 and "limit of 4096" in over[1]["error"]["message"]
