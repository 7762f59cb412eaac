"""Calls into the gRPC servicer from the web front end: a local call context, JSON mapping, status mapping.

The web front end does not reimplement the service: it calls the same EmotionService methods with a
LocalContext standing in for grpc.aio's ServicerContext, so the engine, limits, validation and
status codes are the service's own. Messages travel as protobuf's JSON mapping (json_format), so
fields added to the v1 messages appear without changes here.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

# gRPC status -> HTTP status, as Google's HTTP/JSON APIs map them (google.rpc.Code).
HTTP_STATUS = {
    grpc.StatusCode.OK: 200, grpc.StatusCode.CANCELLED: 499, grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.DEADLINE_EXCEEDED: 504, grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409, grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500, grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
CLOSE_NORMAL = 1000  # the stream ended: the summary was sent
CLOSE_GOING_AWAY = 1001  # the server is shutting down: the summary covers the audio received so far
CLOSE_ERROR_BASE = 4000  # an error: close code 4000 + the gRPC status code's number (INVALID_ARGUMENT: 4003)


class CallAborted(Exception):
    """The servicer (or the front end itself) ended a call with a non-OK gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code, self.message = code, message

    @property
    def close_code(self) -> int:
        return CLOSE_ERROR_BASE + self.code.value[0]

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def to_json(self) -> str:
        return json.dumps({"error": {"code": self.code.name, "message": self.message}})


class LocalContext:
    """The part of grpc.aio.ServicerContext a servicer uses, for a call that arrived over HTTP or WebSocket."""

    def __init__(self, peer: str, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self._peer, self._metadata = peer, metadata
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._callbacks: list[Callable] = []

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata=()) -> None:
        raise CallAborted(code, details)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details

    def check(self) -> None:
        """Raise CallAborted when the servicer set a non-OK code instead of aborting."""
        if self._code not in (None, grpc.StatusCode.OK):
            raise CallAborted(self._code, self._details)

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    def time_remaining(self) -> None:
        return None  # no deadline: the socket's lifetime is the call's

    def cancelled(self) -> bool:
        return False

    def done(self) -> bool:
        return False

    def set_trailing_metadata(self, metadata) -> None:
        pass

    async def send_initial_metadata(self, metadata) -> None:
        pass

    def add_done_callback(self, callback: Callable) -> None:
        self._callbacks.append(callback)


def to_json(message: Message) -> str:
    """A v1 message in protobuf's JSON mapping (lowerCamelCase names, enums by name, int64 as strings),
    with every field present, so that a browser reads zeros and falses without knowing proto3 defaults."""
    return json.dumps(json_format.MessageToDict(message, always_print_fields_with_no_presence=True),
                      separators=(",", ":"))


def from_json(data: dict, message: Message) -> Message:
    """Fill `message` from a JSON mapping dict; CallAborted(INVALID_ARGUMENT) names what does not fit."""
    try:
        return json_format.ParseDict(data, message)
    except json_format.ParseError as exc:
        raise CallAborted(grpc.StatusCode.INVALID_ARGUMENT,
                          f"not a valid {message.DESCRIPTOR.name} in protobuf's JSON mapping: {exc}") from None
