"""One WebSocket at /v1/stream as one StreamEmotions call of the Analyzer.

Protocol: the first message is text, a StreamConfig in protobuf's JSON mapping, plus a "token" field
when the server wants one and the client could not send an Authorization header. Then audio: binary
messages of raw samples in the config's format, or text {"audio": "<base64>"}. The text message
{"end": true} is the half-close. The server sends every StreamEmotionsResponse (window, utterance,
summary) as JSON, then closes with 1000 (1001 when it stopped reading because it is shutting down).
An error is one text message {"error": {"code": "<gRPC code>", "message": ...}} and close code
4000 + the code's number.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

from aiohttp import WSMsgType, web

from speechsense.server.analyzer import Analyzer
from speechsense.server.auth import token_matches
from speechsense.server.config import ServerOptions
from speechsense.server.errors import Code, ServiceError
from speechsense.server.web_json import CLOSE_GOING_AWAY, CLOSE_NORMAL, close_code, from_json, to_json
from speechsense.v1 import emotion_pb2 as pb

log = logging.getLogger("speechsense.server.web")
_GONE = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


class StreamSocket:
    """Runs one accepted socket: config and token first (in the front end), then the analyzer's stream."""

    def __init__(self, ws: web.WebSocketResponse, analyzer: Analyzer, options: ServerOptions,
                 authenticated: bool, peer: str, on_config: Callable[[], None], abort: Callable[[], None]) -> None:
        self.ws, self.analyzer, self.options = ws, analyzer, options
        self._on_config = on_config  # called once the first message was read (or never came)
        self._abort = abort  # drops the connection: the one way out when the client reads nothing
        self.authenticated, self.peer = authenticated, peer
        self._pump: asyncio.Task | None = None
        self.vanished = False
        self.configured = False  # the first message was read (or the socket ended before it)

    async def run(self) -> None:
        """The whole socket; every ending, including a client that vanished, is handled here."""
        try:
            try:
                first = await self._first_request()
            finally:
                self.configured = True
                self._on_config()
            if first is None:
                return  # gone before its config: nothing to answer
            self._pump = asyncio.create_task(self._stream(first))
            try:
                await self._pump
            except asyncio.CancelledError:
                if self.vanished:
                    log.info("web stream from %s: client went away mid-stream", self.peer)
                elif asyncio.current_task().cancelling():
                    raise  # the socket itself is being cancelled (shutdown)
                else:  # the analyzer ended a client that reads no results: its socket's buffers are full
                    await self._drop_slow_reader()
        except ServiceError as exc:
            await self._fail(exc)
        except ConnectionError:
            log.info("web stream from %s: client went away before its results were sent", self.peer)
        except Exception:
            log.exception("web stream from %s failed", self.peer)
            await self._fail(ServiceError(Code.INTERNAL, "internal error; the server logged the details"))

    async def _first_request(self) -> pb.StreamEmotionsRequest | None:
        """Read the config (and token) before anything reaches the analyzer: a refused socket costs no engine."""
        try:
            msg = await self.ws.receive(timeout=self.options.web.config_timeout_seconds)
        except TimeoutError:
            self.analyzer.metrics.refusals.labels("config_timeout").inc()
            raise ServiceError(Code.DEADLINE_EXCEEDED, "no config message within "
                              f"{self.options.web.config_timeout_seconds:g} s of opening the socket") from None
        if msg.type in _GONE:
            return None
        data = self._object(msg, "the first message must be a text StreamConfig in JSON")
        token = data.pop("token", None)
        if not self.authenticated and not (isinstance(token, str) and token_matches(token, self.options.tokens)):
            raise ServiceError(Code.UNAUTHENTICATED, "missing or invalid bearer token: send an "
                              "Authorization header or a \"token\" field in the first message")
        return pb.StreamEmotionsRequest(config=from_json(data, pb.StreamConfig()))

    def _object(self, msg, binary_error: str) -> dict:
        """A text message's JSON object; ServiceError(INVALID_ARGUMENT) for binary or non-JSON messages."""
        if msg.type is not WSMsgType.TEXT:
            raise ServiceError(Code.INVALID_ARGUMENT, binary_error)
        try:
            data = json.loads(msg.data)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ServiceError(Code.INVALID_ARGUMENT, "text messages must be JSON objects")
        return data

    async def _stream(self, first: pb.StreamEmotionsRequest) -> None:
        """The analyzer's stream over this socket; results go out as JSON as they come."""
        last = None
        async with contextlib.aclosing(self.analyzer.stream(self._requests(first), self.peer)) as responses:
            async for response in responses:
                await self.ws.send_str(to_json(response))
                last = response
        shutdown = last is not None and last.summary.end_reason == pb.END_REASON_SERVER_SHUTDOWN
        await self.ws.close(code=CLOSE_GOING_AWAY if shutdown else CLOSE_NORMAL,
                            message=b"server shutting down" if shutdown else b"")

    async def _requests(self, first: pb.StreamEmotionsRequest):
        """The socket's messages as StreamEmotionsRequests; ends at {"end": true}. A ServiceError raised here
        ends the call through the analyzer, which logs and counts it."""
        yield first
        cap = self.options.web.max_frame_bytes
        while True:
            msg = await self.ws.receive()
            if msg.type in _GONE:
                await self._vanish()
            if len(msg.data) > cap:
                raise ServiceError(Code.RESOURCE_EXHAUSTED,
                                   f"a {len(msg.data)}-byte message exceeds the limit of {cap} bytes")
            if msg.type is WSMsgType.BINARY:
                yield pb.StreamEmotionsRequest(audio=msg.data)
                continue
            data = self._object(msg, "unexpected message type")
            if data == {"end": True}:
                return
            yield _audio_request(data)

    async def _vanish(self) -> None:
        """The client closed or dropped without {"end": true}: cancel the call, as gRPC does when a client goes."""
        self.vanished = True
        self._pump.cancel()
        await asyncio.Event().wait()  # cancelled with the call

    async def _drop_slow_reader(self) -> None:
        """Try to say why (the client may read after all), then drop the connection: a full buffer never drains."""
        try:
            async with asyncio.timeout(1.0):
                await self._fail(ServiceError(Code.RESOURCE_EXHAUSTED,
                                              f"results not read for {self.options.idle_seconds:g} s"))
        except TimeoutError:
            log.info("web stream from %s: dropped, it read no results", self.peer)
            self._abort()

    async def refuse(self, exc: ServiceError) -> None:
        """End a socket still waiting for its config (shutdown), with an error message and its close code."""
        if not self.configured:
            await self._fail(exc)

    async def _fail(self, exc: ServiceError) -> None:
        if self.ws.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.send_str(exc.to_json())
        await self.ws.close(code=close_code(exc), message=exc.code.name.encode())


def _audio_request(data: dict) -> pb.StreamEmotionsRequest:
    """A text message after the config: {"audio": base64} in the JSON mapping; ServiceError otherwise."""
    try:
        return from_json(data, pb.StreamEmotionsRequest())
    except ServiceError as exc:
        raise ServiceError(exc.code, exc.message + '; expected {"audio": "<base64>"} or {"end": true}') from None
