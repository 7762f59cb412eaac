"""The gRPC transport: request bytes to messages, the Analyzer's answer back, ServiceError to a status.

Handlers are registered with raw-bytes requests (add_to_server): each parses its own, so bytes that are
not the message, or a string field that is not UTF-8, are the client's error (INVALID_ARGUMENT), not a crash.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator

import grpc
from google.protobuf.message import DecodeError

from speechsense.server.analyzer import Analyzer
from speechsense.server.errors import Code, ServiceError
from speechsense.v1 import emotion_pb2 as pb


def grpc_code(code: Code) -> grpc.StatusCode:
    return grpc.StatusCode[code.name]


def peer_address(peer: str) -> str:
    """gRPC's peer ("ipv4:10.0.0.7:50312", "ipv6:[::1]:50312") without the port: the client's address."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        return rest.rpartition(":")[0].strip("[]")
    return peer


def parse(message_type, data: bytes, what: str):
    """Request bytes to a message; ServiceError(INVALID_ARGUMENT) says why they are not one."""
    try:
        return message_type.FromString(data)
    except DecodeError as exc:
        reason = str(exc).rpartition(": ")[2].rstrip(".")
        reason = ("a string field such as session_tag is not UTF-8" if "UTF-8" in reason
                  else reason[:1].lower() + reason[1:] or "undecodable bytes")
        raise ServiceError(Code.INVALID_ARGUMENT,
                           f"{what} is not a valid {message_type.DESCRIPTOR.full_name} protobuf message: {reason}"
                           ) from None


async def parsed_stream(request_iterator) -> AsyncIterator[pb.StreamEmotionsRequest]:
    """The stream's raw request bytes as messages, numbered from 1 in any error."""
    number = 0
    async for data in request_iterator:
        number += 1
        yield parse(pb.StreamEmotionsRequest, data, f"message {number} of the stream")


class EmotionService:
    """Each RPC is a few lines over the Analyzer; the unary ones share _unary, bound per RPC in __init__."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        # Bound with partial, not wrapped in another coroutine: a wrapper's frame would hold the request bytes
        # for as long as an abort's traceback lives (see _unary).
        self.GetModelInfo = functools.partial(self._unary, pb.GetModelInfoRequest, "model info", self._model_info)
        self.AnalyzeClip = functools.partial(self._unary, pb.AnalyzeClipRequest, "clip", analyzer.analyze_clip)
        self.CreateSpeakerProfile = functools.partial(self._unary, pb.CreateSpeakerProfileRequest, "profile",
                                                      analyzer.create_profile)

    async def _model_info(self, request: pb.GetModelInfoRequest) -> pb.GetModelInfoResponse:
        return self.analyzer.model_info()

    async def _unary(self, message_type, kind: str, call, data: bytes, context):
        """Parse, call, answer. A ServiceError aborts outside every except block, with the request dropped:
        grpc keeps an abort's traceback in a reference cycle until the garbage collector's next full pass, and
        a traceback that reaches a frame holding the request would keep its megabytes alive that long."""
        error = None
        try:
            request = parse(message_type, data, "the request")
        except ServiceError as exc:
            self.analyzer.refuse(kind, exc)
            error = exc
        del data
        if error is None:
            try:
                return await call(request)
            except ServiceError as exc:
                error = exc
            finally:
                del request
        code, message = grpc_code(error.code), error.message
        del error
        await context.abort(code, message)

    async def StreamEmotions(self, request_iterator, context) -> AsyncIterator[pb.StreamEmotionsResponse]:
        error = None
        try:
            requests = parsed_stream(request_iterator)
            async with contextlib.aclosing(self.analyzer.stream(requests, peer_address(context.peer()))) as responses:
                async for response in responses:
                    yield response
        except ServiceError as exc:  # aborted below, outside this block (see _unary)
            error = (grpc_code(exc.code), exc.message)
        if error is not None:
            await context.abort(*error)


def add_to_server(service: EmotionService, server: grpc.aio.Server) -> None:
    """Register the service with raw-bytes requests: each handler parses its own."""
    handlers = {
        "StreamEmotions": grpc.stream_stream_rpc_method_handler(
            service.StreamEmotions, response_serializer=pb.StreamEmotionsResponse.SerializeToString),
        "AnalyzeClip": grpc.unary_unary_rpc_method_handler(
            service.AnalyzeClip, response_serializer=pb.AnalyzeClipResponse.SerializeToString),
        "GetModelInfo": grpc.unary_unary_rpc_method_handler(
            service.GetModelInfo, response_serializer=pb.GetModelInfoResponse.SerializeToString),
        "CreateSpeakerProfile": grpc.unary_unary_rpc_method_handler(
            service.CreateSpeakerProfile, response_serializer=pb.CreateSpeakerProfileResponse.SerializeToString),
    }
    name = pb.DESCRIPTOR.services_by_name["EmotionService"].full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
    server.add_registered_method_handlers(name, handlers)
