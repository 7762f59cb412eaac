"""gRPC channels, credentials, call metadata and reconnect backoff for the client."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from speechsense.client.options import ClientError, ClientOptions
from speechsense.v1 import emotion_pb2_grpc

# Short channel-level reconnect delays: the session does its own backoff between attempts, and a
# private subchannel pool keeps a fresh channel from inheriting a failed one's backoff state.
CHANNEL_OPTIONS = (
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


class Connector:
    """Opens channels to the configured server and supplies per-call metadata and timeouts."""

    def __init__(self, opts: ClientOptions, clock: Callable[[], float] = time.monotonic) -> None:
        self.opts = opts
        self._clock = clock
        self._deadline_at = None if opts.deadline is None else clock() + opts.deadline
        self._credentials = self._make_credentials(opts)
        self._channel: grpc.Channel | None = None

    @staticmethod
    def _make_credentials(opts: ClientOptions) -> grpc.ChannelCredentials | None:
        if not opts.tls:
            return None
        root = None
        if opts.ca_cert is not None:
            try:
                root = opts.ca_cert.read_bytes()
            except OSError as exc:
                raise ClientError(f"cannot read CA certificate {opts.ca_cert}: {exc}") from None
        return grpc.ssl_channel_credentials(root_certificates=root)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata: the bearer token when one is configured."""
        token = self.opts.token
        return (("authorization", f"Bearer {token}"),) if token else ()

    def timeout(self) -> float | None:
        """Seconds left of the session deadline, or None without one; raises once it has passed."""
        if self._deadline_at is None:
            return None
        left = self._deadline_at - self._clock()
        if left <= 0:
            raise ClientError(f"session deadline of {self.opts.deadline} s passed")
        return left

    def stub(self) -> emotion_pb2_grpc.EmotionServiceStub:
        """A stub on a fresh channel (the previous one, if any, is closed)."""
        self.close()
        target = self.opts.server
        if self._credentials is None:
            self._channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        else:
            self._channel = grpc.secure_channel(target, self._credentials, options=CHANNEL_OPTIONS)
        return emotion_pb2_grpc.EmotionServiceStub(self._channel)

    def close(self) -> None:
        """Close the current channel."""
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()


@dataclass
class Backoff:
    """Exponential backoff with jitter and a bounded number of tries; `reset` after progress."""

    initial: float = 0.5
    maximum: float = 8.0
    tries: int = 5
    jitter: float = 0.2
    sleep: Callable[[float], None] = time.sleep
    used: int = field(default=0, init=False)

    def next_delay(self) -> float | None:
        """Delay before the next try, or None when the tries are used up."""
        if self.used >= self.tries:
            return None
        delay = min(self.initial * 2 ** self.used, self.maximum)
        self.used += 1
        return delay * (1 + random.uniform(-self.jitter, self.jitter))

    def wait(self) -> bool:
        """Sleep before the next try; False when no tries are left."""
        delay = self.next_delay()
        if delay is None:
            return False
        self.sleep(delay)
        return True

    def reset(self) -> None:
        """Start over after the server made progress."""
        self.used = 0


def describe_rpc_error(exc: grpc.RpcError) -> str:
    """One line naming the status code and the server's message."""
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    name = code.name if code is not None else "UNKNOWN"
    return f"{name}: {details}"
