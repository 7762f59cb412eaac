"""Assembles the server: one Analyzer, its gRPC and web transports, health, reflection, metrics, shutdown."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from speechsense.server.analyzer import Analyzer
from speechsense.server.auth import TokenAuthInterceptor, server_credentials
from speechsense.server.config import ServerOptions
from speechsense.server.engine import Engine
from speechsense.server.grpc_service import EmotionService, add_to_server
from speechsense.server.metrics import ServerMetrics
from speechsense.server.model import EmotionModel
from speechsense.v1 import emotion_pb2

log = logging.getLogger("speechsense.server")
SERVICE_NAME = emotion_pb2.DESCRIPTOR.services_by_name["EmotionService"].full_name


class SpeechSenseServer:
    """A built, not yet started server; start() serves, stop() drains within the grace period."""

    def __init__(self, options: ServerOptions, server: grpc.aio.Server, analyzer: Analyzer,
                 health_servicer: health.aio.HealthServicer, metrics: ServerMetrics, web=None) -> None:
        self.options, self.grpc, self.analyzer = options, server, analyzer
        self.health, self.metrics = health_servicer, metrics
        self.web = web  # the browser front end (server/web.py), when --web-port is set
        self.web_port: int | None = None

    async def start(self) -> None:
        """Listen at once (health NOT_SERVING), warm the model and features up, then report SERVING."""
        self.analyzer.start()
        for name in ("", SERVICE_NAME):  # grpcio's health servicer starts "" as SERVING: not yet
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.grpc.start()
        if self.web is not None:
            try:
                self.web_port = await self.web.start()
            except OSError as exc:  # taken since create_server's check: stop gRPC, or it outlives the loop
                await self.grpc.stop(0)
                await self.analyzer.close()
                raise OSError(f"cannot serve the web front end on port {self.options.web.port} (--web-port): "
                              f"{exc.strerror or exc}") from None
        await self.analyzer.warm_up()
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving %s (%s) on port %s", self.analyzer.model.path, self.analyzer.model.meta.model_name,
                 self.options.port)

    async def stop(self, grace: float | None = None) -> None:
        """Health NOT_SERVING, refuse new calls, let open streams send their last windows and summary."""
        grace = self.options.grace_seconds if grace is None else grace
        await self.health.enter_graceful_shutdown()
        self.analyzer.begin_drain()
        if self.web is not None:
            await asyncio.gather(self.grpc.stop(grace), self.web.stop(grace))
        else:
            await self.grpc.stop(grace)
        await self.analyzer.close()

    async def wait_for_termination(self) -> None:
        await self.grpc.wait_for_termination()


def create_server(options: ServerOptions) -> tuple[SpeechSenseServer, int]:
    """Load the model (a missing or invalid file raises ModelLoadError) and bind the port; port 0 picks one."""
    model = EmotionModel(options.model_path, options.engine)
    metrics = ServerMetrics()
    analyzer = Analyzer(options, Engine(model, options.engine, metrics), metrics)
    interceptors = [TokenAuthInterceptor(options.tokens)] if options.tokens else []
    server = grpc.aio.server(interceptors=interceptors, options=[
        ("grpc.max_receive_message_length", options.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ])
    add_to_server(EmotionService(analyzer), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{options.host}:{options.port}"
    check_port_free(options.host, options.port, "port", "--port")
    try:
        if options.tls_cert is not None:
            port = server.add_secure_port(address, server_credentials(options.tls_cert, options.tls_key,
                                                                      options.tls_client_ca))
        else:
            port = server.add_insecure_port(address)
    except RuntimeError:  # grpcio's "Failed to bind to address": taken since the check, or not ours to bind
        port = 0
    if port == 0:
        raise OSError(f"cannot listen on {address} (--host, --port)")
    web = None
    if options.web.port is not None:
        check_port_free(options.host, options.web.port, "web port", "--web-port")
        from speechsense.server.web import WebFrontend  # aiohttp is needed only with --web-port

        web = WebFrontend(options, analyzer)
    return SpeechSenseServer(options, server, analyzer, health_servicer, metrics, web), port


def check_port_free(host: str, port: int, what: str, flag: str) -> None:
    """One clear line when host:port is taken, before gRPC (which logs a C-level error and raises) or the
    metrics server tries it; other bind errors are left to them. what: "port", "web port" or "metrics port"."""
    if port == 0:
        return
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host.strip("[]") or None, port, type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC and http.server bind
            probe.bind(sockaddr)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise OSError(f"{what} {port} is already in use on {host}; stop what holds it or choose another "
                          f"with {flag}") from None
        if exc.errno == errno.EACCES:
            raise OSError(f"{what} {port} on {host} needs privileges to bind; choose another with {flag}") from None


async def serve(options: ServerOptions) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    server, port = create_server(options)
    if options.metrics_port:
        # The metrics endpoint follows --host, except that the any-address "[::]" becomes IPv4's 0.0.0.0,
        # which works also where IPv6 is off (many containers).
        host = options.host.strip("[]")
        host = "0.0.0.0" if host in ("", "::") else host
        check_port_free(host, options.metrics_port, "metrics port", "--metrics-port (0 turns metrics off)")
        server.metrics.serve(options.metrics_port, host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    log.info("listening on %s:%d (%s)", options.host, port,
             f"metrics on port {options.metrics_port}" if options.metrics_port else "metrics off")
    await stop.wait()
    log.info("shutting down: open streams get %.1fs to finish", options.grace_seconds)
    await server.stop()
