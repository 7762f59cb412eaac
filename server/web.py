"""The browser front end: the page at /, WebSocket streams at /v1/stream, JSON calls at /v1/analyze and /v1/model.

aiohttp, in the server's own event loop, on --web-port. A thin transport over the same Analyzer as gRPC:
JSON to v1 messages and back (server/web_json.py), ServiceError to HTTP statuses and close codes, so the
two share the engine, the stream limit and the status codes.
Security as on gRPC: the same TLS certificate, the same bearer tokens, plus an Origin allow-list
(browsers send Origin; a page elsewhere must not drive this server with its visitor's network position).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import ssl
from importlib import resources
from pathlib import Path

from aiohttp import web

from speechsense.server.analyzer import Analyzer
from speechsense.server.auth import token_matches
from speechsense.server.config import ServerOptions
from speechsense.server.errors import Code, ServiceError
from speechsense.server.web_json import from_json, http_status, to_json
from speechsense.server.web_stream import StreamSocket
from speechsense.v1 import emotion_pb2 as pb

log = logging.getLogger("speechsense.server.web")
STATIC = Path(str(resources.files("speechsense.server") / "static"))
# The page loads only its own files and talks only to its own origin.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def ssl_context(options: ServerOptions) -> ssl.SSLContext | None:
    """TLS from the gRPC flags' certificate and key; with a client CA, client certificates are required."""
    if options.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(options.tls_cert, options.tls_key)
    if options.tls_client_ca is not None:
        context.load_verify_locations(options.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class WebFrontend:
    """The aiohttp application and its listening socket; start() binds, stop() drains open sockets."""

    def __init__(self, options: ServerOptions, analyzer: Analyzer) -> None:
        self.options, self.analyzer = options, analyzer
        self.port: int | None = None
        self._sockets: dict[asyncio.Task, StreamSocket] = {}  # handlers of accepted sockets
        self._waiting: collections.Counter[str] = collections.Counter()  # sockets before their config, by peer
        # A base64 JSON body is 4/3 of the audio.
        self.app = web.Application(client_max_size=options.max_message_bytes * 4 // 3 + 65536,
                                   middlewares=[self._guard])
        self.app.add_routes([
            web.get("/", self._page), web.get("/v1/stream", self._stream), web.get("/v1/model", self._model),
            web.post("/v1/analyze", self._analyze), web.static("/static", STATIC, append_version=False),
        ])
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)

    async def start(self) -> int:
        await self._runner.setup()
        host = self.options.host.strip("[]")
        site = web.TCPSite(self._runner, None if host in ("", "::", "0.0.0.0") else host, self.options.web.port,
                           ssl_context=ssl_context(self.options), reuse_port=False)
        await site.start()
        self.port = self._runner.addresses[0][1]
        shown = "localhost" if host in ("", "::", "0.0.0.0") else f"[{host}]" if ":" in host else host
        log.info("web front end on %s://%s:%d/", "https" if self.options.tls_cert else "http", shown, self.port)
        return self.port

    async def stop(self, grace: float) -> None:
        """After the analyzer began draining: open streams send their summary within `grace`, then close."""
        # Sockets still waiting for their config have nothing to finish: tell them now, not at their timeout, all at
        # once (each close waits for its client's reply, which a busy client may send late).
        refusal = ServiceError(Code.UNAVAILABLE, "server is shutting down")
        await asyncio.gather(*(socket.refuse(refusal) for socket in list(self._sockets.values())))
        if self._sockets:
            await asyncio.wait(list(self._sockets), timeout=grace)
        for task in list(self._sockets):
            task.cancel()
        await self._runner.cleanup()

    # ---- security: one middleware for every request ------------------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler):
        """Origin check and CORS for /v1, JSON errors for /v1; the page and its files are open."""
        if not request.path.startswith("/v1/"):
            response = await handler(request)
            if request.path == "/" or request.path.startswith("/static/"):
                response.headers.update(PAGE_HEADERS)
            return response
        origin = request.headers.get("Origin")
        allowed = origin is None or self._origin_allowed(request, origin)
        try:
            if not allowed:
                raise ServiceError(Code.PERMISSION_DENIED, f"origin {origin} is not allowed")
            if request.method == "OPTIONS":
                response = web.Response(status=204)
            else:
                response = await handler(request)
        except ServiceError as exc:
            response = _error(exc)
        except web.HTTPRequestEntityTooLarge as exc:
            response = _error(ServiceError(Code.RESOURCE_EXHAUSTED, exc.text or "request body too large"), 413)
        if origin is not None and allowed and not response.prepared:
            response.headers.update(_cors(origin))
        return response

    def _origin_allowed(self, request: web.Request, origin: str) -> bool:
        """The page's own origin, or one listed in --web-origins ("*": any)."""
        allowed = self.options.web.origins
        return origin == f"{request.scheme}://{request.host}" or "*" in allowed or origin in allowed

    def _authenticated(self, request: web.Request) -> bool | None:
        """True: a valid Authorization header (or no tokens configured); False: a wrong one; None: none sent."""
        if not self.options.tokens:
            return True
        header = request.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and token_matches(token.strip(), self.options.tokens)

    def _require_token(self, request: web.Request) -> None:
        if not self._authenticated(request):
            raise ServiceError(Code.UNAUTHENTICATED, "missing or invalid bearer token "
                              "(Authorization: Bearer <token>)")

    # ---- handlers ----------------------------------------------------------------------------------------------
    async def _page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _model(self, request: web.Request) -> web.Response:
        self._require_token(request)
        return web.Response(text=to_json(self.analyzer.model_info()), content_type="application/json")

    async def _analyze(self, request: web.Request) -> web.Response:
        """AnalyzeClipRequest in the JSON mapping, or any other body as the encoded file (WAV, FLAC, OGG)."""
        self._require_token(request)
        try:  # a client that trickles its body holds a connection: bounded like a quiet stream
            async with asyncio.timeout(self.options.web.body_timeout_seconds):
                body = await request.read()
        except TimeoutError:
            self.analyzer.metrics.refusals.labels("body_timeout").inc()
            return _error(ServiceError(Code.DEADLINE_EXCEEDED, "request body not received within "
                                       f"{self.options.web.body_timeout_seconds:g} s (--web-body-timeout)"), 408)
        run_cpu = self.analyzer.engine.run_cpu
        if request.content_type == "application/json":  # megabytes of base64: parsed off the event loop
            clip = await run_cpu(_clip_from_json, body)
        elif len(body) > self.options.max_message_bytes:  # as gRPC's limit on a request message
            return _error(ServiceError(Code.RESOURCE_EXHAUSTED, f"a {len(body)}-byte clip exceeds the limit of "
                                       f"{self.options.max_message_bytes} bytes"), 413)
        else:
            clip = pb.AnalyzeClipRequest(encoded=body)
        reply = await self.analyzer.analyze_clip(clip)
        return web.Response(text=await run_cpu(to_json, reply), content_type="application/json")

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """Refusals that need no socket (wrong header token, too many sockets) are HTTP answers before upgrade."""
        if self.analyzer.draining:
            raise ServiceError(Code.UNAVAILABLE, "server is shutting down; retry on another replica")
        authenticated = self._authenticated(request)
        if authenticated is False:
            raise ServiceError(Code.UNAUTHENTICATED, "invalid bearer token")
        peer = request.remote or ""
        if self._waiting.total() >= self.options.max_streams:
            self.analyzer.metrics.refusals.labels("stream_limit").inc()
            raise ServiceError(Code.RESOURCE_EXHAUSTED, "too many sockets waiting for their config")
        self.analyzer.check_peer(peer, held=self._waiting[peer])
        cap = self.options.web.max_frame_bytes
        ws = web.WebSocketResponse(max_msg_size=2 * cap, heartbeat=self.options.web.heartbeat_seconds)
        if not ws.can_prepare(request).ok:
            raise ServiceError(Code.INVALID_ARGUMENT, "/v1/stream is a WebSocket endpoint")
        await ws.prepare(request)
        task = asyncio.current_task()
        self._sockets[task] = socket = StreamSocket(ws, self.analyzer, self.options, authenticated is True, peer,
                                                    lambda: self._configured(peer), lambda: _drop(request))
        self._waiting[peer] += 1
        try:
            await socket.run()
        finally:
            del self._sockets[task]
            if not ws.closed:
                await ws.close()
        return ws

    def _configured(self, peer: str) -> None:
        """A socket of `peer` read its config (or ended before it): it now counts as the analyzer's stream."""
        self._waiting[peer] -= 1
        if self._waiting[peer] <= 0:
            del self._waiting[peer]


def _drop(request: web.Request) -> None:
    """Close the connection under a socket, unsent data and all."""
    if request.transport is not None:
        request.transport.abort()


def _clip_from_json(body: bytes) -> pb.AnalyzeClipRequest:
    try:
        data = json.loads(body)
    except ValueError:
        raise ServiceError(Code.INVALID_ARGUMENT, "body is not JSON") from None
    if not isinstance(data, dict):
        raise ServiceError(Code.INVALID_ARGUMENT, "body must be a JSON object")
    return from_json(data, pb.AnalyzeClipRequest())


def _error(exc: ServiceError, status: int | None = None) -> web.Response:
    return web.Response(status=status or http_status(exc), text=exc.to_json(), content_type="application/json")


def _cors(origin: str) -> dict[str, str]:
    """Lets an allowed page on another origin read the reply (the Origin check above already let it in)."""
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS"}
