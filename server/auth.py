"""Access control: bearer tokens checked by an interceptor before any handler runs, and TLS credentials.

A call without a valid token is refused with UNAUTHENTICATED before the servicer sees a byte of
its audio. Health stays open so that load balancers and orchestrators can probe, and so does
reflection, which describes only the API (public in protos/): without it, grpcurl cannot even
form a health check.
"""

from __future__ import annotations

import hmac
import ssl
from collections.abc import Iterable
from pathlib import Path

import grpc

OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/",
                 "/grpc.reflection.v1.ServerReflection/")


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Requires `authorization: Bearer <token>` with one of the configured tokens."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = [t.encode() for t in tokens if t]
        if not self._tokens:
            raise ValueError("token authentication needs at least one non-empty token")

    def _valid(self, presented: str) -> bool:
        return token_matches(presented, self._tokens)

    async def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.startswith(OPEN_PREFIXES):
            return await continuation(handler_call_details)
        header = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and self._valid(token.strip()):
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        return _refusal(handler, "missing or invalid bearer token" if header else "missing bearer token")


def token_matches(presented: str, tokens: Iterable[str | bytes]) -> bool:
    """Whether `presented` is one of `tokens` (the gRPC interceptor and the web front end share this)."""
    candidate = presented.encode()
    # Compare with every token, without stopping early, so timing says nothing about which matched.
    return sum(hmac.compare_digest(candidate, t if isinstance(t, bytes) else t.encode()) for t in tokens if t) > 0


def _refusal(handler, message: str):
    """A handler of the same shape as `handler` that aborts with UNAUTHENTICATED without reading the request."""

    async def abort_unary(request_or_iterator, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def abort_streaming(request_or_iterator, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # pragma: no cover - makes this an async generator, as streaming responses need

    if handler is None:
        return None
    if handler.response_streaming:
        factory = (grpc.stream_stream_rpc_method_handler if handler.request_streaming
                   else grpc.unary_stream_rpc_method_handler)
        return factory(abort_streaming, handler.request_deserializer, handler.response_serializer)
    factory = (grpc.stream_unary_rpc_method_handler if handler.request_streaming
               else grpc.unary_unary_rpc_method_handler)
    return factory(abort_unary, handler.request_deserializer, handler.response_serializer)


def read_tokens(path: Path | None, env_value: str | None) -> tuple[str, ...]:
    """Tokens from a file (one per line, # comments) and a comma-separated environment value."""
    tokens: list[str] = []
    if path is not None:
        for line in Path(path).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                tokens.append(line)
    if env_value:
        tokens += [t.strip() for t in env_value.split(",") if t.strip()]
    return tuple(tokens)


def check_tls_files(cert: Path, key: Path, client_ca: Path | None) -> None:
    """One clear error naming the flag for a TLS file that is missing or not PEM, before anything binds."""
    for what, flag, path in (("certificate", "tls-cert", cert), ("key", "tls-key", key),
                             ("client CA", "tls-client-ca", client_ca)):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"TLS {what} file {path} (--{flag}) does not exist")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise OSError(f"--tls-cert {cert} and --tls-key {key} are not a PEM certificate chain and its key "
                      f"({exc.reason or exc})") from None
    if client_ca is not None:
        try:
            context.load_verify_locations(client_ca)
        except ssl.SSLError as exc:
            raise OSError(f"--tls-client-ca {client_ca} is not a PEM CA certificate ({exc.reason or exc})") from None


def server_credentials(cert: Path, key: Path, client_ca: Path | None) -> grpc.ServerCredentials:
    """TLS with the given PEM certificate chain and key; with client_ca, clients must present a cert it signed."""
    check_tls_files(cert, key, client_ca)
    return grpc.ssl_server_credentials(
        [(Path(key).read_bytes(), Path(cert).read_bytes())],
        root_certificates=Path(client_ca).read_bytes() if client_ca else None,
        require_client_auth=client_ca is not None,
    )
