"""What the web transports share: messages in protobuf's JSON mapping, and ServiceError as HTTP and close codes.

Messages travel as protobuf's JSON mapping (json_format), so fields added to the v1 messages appear
without changes here.
"""

from __future__ import annotations

import json

from google.protobuf import json_format
from google.protobuf.message import Message

from speechsense.server.errors import Code, ServiceError

# Status code -> HTTP status, as Google's HTTP/JSON APIs map them (google.rpc.Code).
HTTP_STATUS = {
    Code.OK: 200, Code.CANCELLED: 499, Code.UNKNOWN: 500, Code.INVALID_ARGUMENT: 400, Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404, Code.ALREADY_EXISTS: 409, Code.PERMISSION_DENIED: 403, Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400, Code.ABORTED: 409, Code.OUT_OF_RANGE: 400, Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500, Code.UNAVAILABLE: 503, Code.DATA_LOSS: 500, Code.UNAUTHENTICATED: 401,
}
CLOSE_NORMAL = 1000  # the stream ended: the summary was sent
CLOSE_GOING_AWAY = 1001  # the server is shutting down: the summary covers the audio received so far
CLOSE_ERROR_BASE = 4000  # an error: close code 4000 + the status code's number (INVALID_ARGUMENT: 4003)


def http_status(error: ServiceError) -> int:
    return HTTP_STATUS.get(error.code, 500)


def close_code(error: ServiceError) -> int:
    return CLOSE_ERROR_BASE + int(error.code)


def to_json(message: Message) -> str:
    """A v1 message in protobuf's JSON mapping (lowerCamelCase names, enums by name, int64 as strings),
    with every field present, so that a browser reads zeros and falses without knowing proto3 defaults."""
    return json.dumps(json_format.MessageToDict(message, always_print_fields_with_no_presence=True),
                      separators=(",", ":"))


def from_json(data: dict, message: Message) -> Message:
    """Fill `message` from a JSON mapping dict; ServiceError(INVALID_ARGUMENT) names what does not fit."""
    try:
        return json_format.ParseDict(data, message)
    except json_format.ParseError as exc:
        raise ServiceError(Code.INVALID_ARGUMENT,
                           f"not a valid {message.DESCRIPTOR.name} in protobuf's JSON mapping: {exc}") from None
