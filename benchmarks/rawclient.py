"""A generic gRPC client that sends request bytes as they are (identity serializers), for hostile-input tests.

The generated stub can only send valid messages; these calls put any bytes on the wire, as a client in
another language or a broken proxy could.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import grpc

from speechsense.v1 import emotion_pb2 as pb

SERVICE = "/speechsense.v1.EmotionService/"


@dataclass
class Outcome:
    """How one call ended: its status, details, responses received and seconds from the last message sent."""

    code: grpc.StatusCode
    details: str
    responses: list
    seconds_after_last: float


class RawClient:
    """StreamEmotions, AnalyzeClip, GetModelInfo and CreateSpeakerProfile taking request bytes; responses are
    parsed."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.stream = channel.stream_stream(SERVICE + "StreamEmotions", request_serializer=None,
                                            response_deserializer=pb.StreamEmotionsResponse.FromString)
        self.clip = channel.unary_unary(SERVICE + "AnalyzeClip", request_serializer=None,
                                        response_deserializer=pb.AnalyzeClipResponse.FromString)
        self.info = channel.unary_unary(SERVICE + "GetModelInfo", request_serializer=None,
                                        response_deserializer=pb.GetModelInfoResponse.FromString)
        self.profile = channel.unary_unary(SERVICE + "CreateSpeakerProfile", request_serializer=None,
                                           response_deserializer=pb.CreateSpeakerProfileResponse.FromString)

    def run_stream(self, messages: Iterable[bytes], timeout: float = 10, hold_open: bool = False) -> Outcome:
        """Send messages; with hold_open, keep the stream open (no half-close) until the call ends."""
        sent, ended = [time.monotonic()], threading.Event()

        def requests() -> Iterator[bytes]:
            for message in messages:
                yield message
                sent[0] = time.monotonic()
            if hold_open:
                ended.wait(timeout)

        got = []
        try:
            for response in self.stream(requests(), timeout=timeout):
                got.append(response)
        except grpc.RpcError as err:
            return Outcome(err.code(), err.details() or "", got, time.monotonic() - sent[0])
        finally:
            ended.set()
        return Outcome(grpc.StatusCode.OK, "", got, time.monotonic() - sent[0])

    def run_clip(self, data: bytes, timeout: float = 10) -> Outcome:
        start = time.monotonic()
        try:
            reply = self.clip(data, timeout=timeout)
        except grpc.RpcError as err:
            return Outcome(err.code(), err.details() or "", [], time.monotonic() - start)
        return Outcome(grpc.StatusCode.OK, "", [reply], time.monotonic() - start)
