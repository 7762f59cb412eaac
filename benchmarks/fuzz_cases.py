"""Wire-level fuzz cases: random and mutated request bytes for StreamEmotions (first message, mid-stream) and
AnalyzeClip, and the oracle that judges how each call ended: the cases' library, used by tests/test_fuzz.py
(1,000 cases a run) and by benchmarks/wire_fuzz.py (the runnable fuzz and soak at length).

Bytes that do not parse as the request message (checked here with the same protobuf runtime as the
server) must get INVALID_ARGUMENT, or RESOURCE_EXHAUSTED when over the message limit; bytes that happen
to parse may also succeed. Never INTERNAL, UNKNOWN or a hang: every call ends within END_SECONDS of the
last message sent, and a stream holding bytes that do not parse is held open by the client, so only the
server can end it.
"""

from __future__ import annotations

import io
import random
import wave
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import numpy as np
from google.protobuf.message import DecodeError
from rawclient import Outcome, RawClient

from speechsense.v1 import emotion_pb2 as pb

END_SECONDS = 2.0
TARGETS = ("first", "mid", "clip")
MUTATIONS = ("random", "prefix+garbage", "truncated", "byte", "wrong-type", "huge-varint", "nested", "deep",
             "oversize")


@dataclass(frozen=True)
class Case:
    target: str  # first | mid | clip
    mutation: str
    messages: tuple[bytes, ...]  # a stream's messages, or one AnalyzeClip request
    parses: bool  # every message parses as its request type
    oversize: bool  # some message exceeds the server's max_message_bytes


def pcm(seconds: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return (rng.uniform(-0.3, 0.3, int(seconds * 16000)) * 32767).astype("<i2").tobytes()


def wav(seconds: float, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm(seconds * rate / 16000, 1)[: int(seconds * rate) * 2])
    return out.getvalue()


def configs() -> list[bytes]:
    fmt = pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=16000)
    return [pb.StreamEmotionsRequest(config=c).SerializeToString() for c in (
        pb.StreamConfig(format=fmt),
        pb.StreamConfig(format=fmt, session_tag="fuzz", window=pb.WindowSpec(window_seconds=1.0, hop_seconds=0.5)),
        pb.StreamConfig(format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_FLOAT32, sample_rate_hz=8000, channels=2),
                        segmentation=pb.SEGMENTATION_UTTERANCES),
    )]


def clips() -> list[bytes]:
    raw = pb.RawAudio(format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=16000),
                      data=pcm(1.5, 2))
    return [pb.AnalyzeClipRequest(raw=raw, session_tag="fuzz").SerializeToString(),
            pb.AnalyzeClipRequest(encoded=wav(1.2), window=pb.WindowSpec(hop_seconds=0.5)).SerializeToString(),
            pb.AnalyzeClipRequest(encoded=wav(0.5, 8000), segmentation=pb.SEGMENTATION_UTTERANCES)
            .SerializeToString()]


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


class Mutator:
    """Hostile variants of a valid serialized message."""

    def __init__(self, rng: random.Random, max_message_bytes: int) -> None:
        self.rng, self.max_message_bytes = rng, max_message_bytes

    def garbage(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    def apply(self, kind: str, m: bytes) -> bytes:
        r = self.rng
        if kind == "random":
            return self.garbage(r.randint(1, 96))
        if kind == "prefix+garbage":
            return m[: r.randint(0, len(m))] + self.garbage(r.randint(1, 32))
        if kind == "truncated":
            return m[: r.randint(0, max(0, len(m) - 1))]
        if kind == "byte":
            b, i = bytearray(m), r.randrange(len(m))
            b[i] = r.choice((b[i] ^ (1 << r.randrange(8)), 0xFF, 0x80, 0x00, r.randrange(256)))
            return bytes(b)
        if kind == "wrong-type":  # a known field number with another wire type (3, 4: groups; 6, 7: invalid)
            field, wire = r.randint(1, 6), r.choice((0, 1, 2, 3, 4, 5, 6, 7))
            return m + varint(field << 3 | wire) + self.garbage(r.randint(0, 12))
        if kind == "huge-varint":  # an 11-byte varint, or a length near 2**64
            tail = (b"\xff" * 10 + b"\x01") if r.random() < 0.5 else varint(r.choice((2**63, 2**64 - 1, 2**31)))
            return m[: r.randint(0, len(m))] + bytes([r.choice((0x0A, 0x12, 0x08, 0x1A))]) + tail
        if kind == "nested":  # garbage inside the first length-delimited field, with a correct outer length
            inner = m[2:][: r.randint(0, 8)] + self.garbage(r.randint(1, 24))
            return bytes([m[0]]) + varint(len(inner)) + inner
        if kind == "deep":  # unknown groups nested past any recursion limit
            depth = r.choice((50, 101, 5000))
            return b"\x3b" * depth + b"\x3c" * depth
        if kind == "oversize":
            return b"\x12" + varint(self.max_message_bytes) + bytes(self.max_message_bytes)
        raise ValueError(kind)


def parses(target: str, data: bytes) -> bool:
    message = pb.AnalyzeClipRequest if target == "clip" else pb.StreamEmotionsRequest
    try:
        message.FromString(data)
    except DecodeError:
        return False
    return True


def cases(seed: int, count: int, max_message_bytes: int) -> Iterator[Case]:
    """count cases, cycling through targets and mutations, reproducible from seed."""
    rng = random.Random(seed)
    mutate = Mutator(rng, max_message_bytes)
    first, clip_requests = configs(), clips()
    audio = [pb.StreamEmotionsRequest(audio=pcm(s, i)).SerializeToString() for i, s in enumerate((0.3, 1.0, 1.5))]
    for i in range(count):
        target, kind = TARGETS[i % 3], MUTATIONS[(i // 3) % len(MUTATIONS)]
        if target == "clip":
            messages = (mutate.apply(kind, rng.choice(clip_requests)),)
        elif target == "first":
            messages = (mutate.apply(kind, rng.choice(first)), rng.choice(audio))
        else:
            bad = mutate.apply(kind, rng.choice(audio + first[:1]))
            messages = (first[0], rng.choice(audio), bad, rng.choice(audio))
        yield Case(target, kind, messages, all(parses(target, m) for m in messages),
                   any(len(m) > max_message_bytes for m in messages))


def normal_stream() -> tuple[bytes, ...]:
    """A valid stream's messages: a config and 2 s of audio."""
    return (configs()[0], pb.StreamEmotionsRequest(audio=pcm(2.0, 9)).SerializeToString())


def run_case(client: RawClient, case: Case, timeout: float = 10) -> Outcome:
    if case.target == "clip":
        return client.run_clip(case.messages[0], timeout=timeout)
    return client.run_stream(case.messages, timeout=timeout, hold_open=not case.parses)


def judge(case: Case, out: Outcome) -> str | None:
    """None if the outcome keeps the promise, else what is wrong."""
    allowed = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}
    if case.parses:  # a valid request may also ask for what the model lacks (calibration of a model without it)
        allowed |= {grpc.StatusCode.OK, grpc.StatusCode.FAILED_PRECONDITION}
    if out.code not in allowed:
        return f"{out.code.name}: {out.details!r}"
    if out.seconds_after_last > END_SECONDS:
        return f"ended {out.seconds_after_last:.2f}s after the last message ({out.code.name})"
    if out.code is not grpc.StatusCode.OK and not out.details:
        return f"{out.code.name} without a message"
    if "0x" in out.details or "Traceback" in out.details:
        return f"Python internals in the message: {out.details!r}"
    return None
