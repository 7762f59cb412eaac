"""The service's one error type, ServiceError, and the status codes every transport maps it from.

The analyzer raises only ServiceError; each transport turns its code into its own form (a gRPC status,
an HTTP status, a WebSocket close code). Codes are gRPC's names and numbers, the API's reference.
"""

from __future__ import annotations

import enum
import json

from speechsense.audio import AudioError
from speechsense.server.calibration import CalibrationUnavailable, ProfileError
from speechsense.server.session import LimitExceeded


class Code(enum.IntEnum):
    """Status codes, numbered as google.rpc.Code (and gRPC) number them."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class ServiceError(Exception):
    """A call the service ends with a non-OK status; the message is for the client."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code, self.message = code, message

    def to_json(self) -> str:
        """The error object the web transports send: {"error": {"code": "<name>", "message": ...}}."""
        return json.dumps({"error": {"code": self.code.name, "message": self.message}})


# Domain errors of the lower layers, by the status they mean to a client.
_DOMAIN = (
    ((AudioError, ProfileError), Code.INVALID_ARGUMENT),
    ((CalibrationUnavailable,), Code.FAILED_PRECONDITION),
    ((LimitExceeded,), Code.RESOURCE_EXHAUSTED),
)


def as_service_error(exc: Exception) -> ServiceError | None:
    """The ServiceError a domain error stands for; None for anything else (a bug: INTERNAL, logged)."""
    if isinstance(exc, ServiceError):
        return exc
    for kinds, code in _DOMAIN:
        if isinstance(exc, kinds):
            return ServiceError(code, str(exc))
    return None
