"""Reliability under idle clients: hundreds of streams and sockets that send a config and then nothing.

    python benchmarks/idle_clients.py --idle 300 --idle-seconds 10 [--model hybrid]
Starts `speechsense-server` twice on loopback (gRPC and --web-port), default --max-streams 256:
1. with --max-streams-per-peer 32: 300 idle gRPC streams from 127.0.0.1 and 300 idle sockets from 127.0.0.2,
   then one well-behaved WebSocket stream from 127.0.0.3: how soon its first window comes (it should be served
   at once), and how each idle call ended (admitted ones: DEADLINE_EXCEEDED / close 4004 after --idle-seconds;
   the rest refused at once: RESOURCE_EXHAUSTED / HTTP 429);
2. without a per-peer limit: the same flood fills all 256 slots; one well-behaved gRPC stream retries on
   RESOURCE_EXHAUSTED until served: how long it waited (about --idle-seconds), and how every idle call ended.
Prints one JSON report. Loopback only; needs 127.0.0.2-3 on lo (Linux has all of 127/8).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import aiohttp
import grpc
from server_process import free_port, start_server
from stream_load import RATE

from speechsense.synthetic import speech_like
from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc

CONFIG = pb.StreamConfig(format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=RATE))
WEB_CONFIG = {"format": {"encoding": "AUDIO_ENCODING_LINEAR16", "sampleRateHz": RATE}}
PCM = (speech_like(4.0) * 20000).astype("<i2").tobytes()


async def idle_grpc(stub) -> str:
    """Config, then silence until the server ends the call: its status."""
    async def requests():
        yield pb.StreamEmotionsRequest(config=CONFIG)
        await asyncio.Event().wait()

    call = stub.StreamEmotions(requests())
    try:
        async for _ in call:
            pass
    except grpc.aio.AioRpcError:
        pass
    return refusal_name(await call.code(), await call.details())


def refusal_name(code: grpc.StatusCode, details: str) -> str:
    """The status, naming grpc's asyncio-client quirk (grpc/grpc#36066): a write that loses the race with the
    server's early refusal reports INTERNAL "Internal error from Core" instead of the server's status."""
    if code == grpc.StatusCode.INTERNAL and "Internal error from Core" in (details or ""):
        return "refused, reported by the aio client as INTERNAL"
    return code.name


async def idle_socket(url: str, local: str) -> str:
    """Config, then silence: the close code, or the HTTP status of a refused upgrade."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(local, 0), limit=0)) as session:
        try:
            async with session.ws_connect(url) as ws:
                await ws.send_str(json.dumps(WEB_CONFIG))
                async for _ in ws:
                    pass
                return f"close {ws.close_code}"
        except aiohttp.WSServerHandshakeError as exc:
            return f"HTTP {exc.status}"


async def good_socket(url: str, local: str) -> dict:
    """One well-behaved stream: seconds to its first window and to its summary."""
    t0 = time.monotonic()
    first = None
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(local, 0))) as session, \
            session.ws_connect(url) as ws:
        await ws.send_str(json.dumps(WEB_CONFIG))
        await ws.send_bytes(PCM)
        await ws.send_str(json.dumps({"end": True}))
        async for msg in ws:
            if first is None and "window" in msg.data:
                first = time.monotonic() - t0
    return {"first_window_s": round(first or -1, 3), "done_s": round(time.monotonic() - t0, 3),
            "close": ws.close_code}


async def good_grpc(stub) -> dict:
    """One well-behaved stream, retried on RESOURCE_EXHAUSTED until a slot frees: how long it waited."""
    t0, tries = time.monotonic(), 0
    while True:
        tries += 1
        try:
            replies = [r async for r in stub.StreamEmotions(iter([
                pb.StreamEmotionsRequest(config=CONFIG), pb.StreamEmotionsRequest(audio=PCM)]))]
            return {"served_after_s": round(time.monotonic() - t0, 2), "tries": tries,
                    "results": [r.WhichOneof("result") for r in replies]}
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED and refusal_name(exc.code(), exc.details()) == \
                    exc.code().name:
                raise
            await asyncio.sleep(0.5)


async def flood(address: str, web: str, idle: int) -> tuple[list[asyncio.Task], list[asyncio.Task], list]:
    channels = [grpc.aio.insecure_channel(address) for _ in range(10)]
    stubs = [emotion_pb2_grpc.EmotionServiceStub(c) for c in channels]
    streams = [asyncio.create_task(idle_grpc(stubs[i % 10])) for i in range(idle)]
    sockets = [asyncio.create_task(idle_socket(f"ws://{web}/v1/stream", "127.0.0.2")) for _ in range(idle)]
    await asyncio.sleep(3.0)  # every call has sent its config and been admitted or refused
    return streams, sockets, channels


async def phase(model: str, idle: int, idle_seconds: float, per_peer: int) -> dict:
    web_port = free_port()
    flags = ["--web-port", str(web_port), "--idle-seconds", str(idle_seconds), "--log-level", "WARNING",
             "--max-streams-per-peer", str(per_peer)]
    server, port = start_server(model, *flags, log=Path("/dev/null"))
    address, web = f"127.0.0.1:{port}", f"127.0.0.1:{web_port}"
    try:
        t0 = time.monotonic()
        streams, sockets, channels = await flood(address, web, idle)
        async with grpc.aio.insecure_channel(address) as channel:
            if per_peer:
                good = await good_socket(f"ws://{web}/v1/stream", "127.0.0.3")
            else:
                good = await good_grpc(emotion_pb2_grpc.EmotionServiceStub(channel))
        grpc_ends = Counter(await asyncio.gather(*streams))
        socket_ends = Counter(await asyncio.gather(*sockets))
        for c in channels:
            await c.close()
        return {"max_streams_per_peer": per_peer, "well_behaved": good, "idle_grpc_ended": dict(grpc_ends),
                "idle_sockets_ended": dict(socket_ends), "all_idle_ended_s": round(time.monotonic() - t0, 1)}
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--idle", type=int, default=300, help="idle gRPC streams, and as many idle sockets")
    p.add_argument("--idle-seconds", type=float, default=10.0)
    p.add_argument("--model", default="hybrid")
    args = p.parse_args()
    report = {"model": args.model, "idle": args.idle, "idle_seconds": args.idle_seconds, "phases": [
        asyncio.run(phase(args.model, args.idle, args.idle_seconds, per_peer)) for per_peer in (32, 0)]}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
