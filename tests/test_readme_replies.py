"""The replies README quotes are what the server answers: its grpcurl samples and its JSON-mapping promise.

The sample block is parsed out of README, so a new model file or a changed field fails here until README says
what the server now says. Scores are compared in log space with a margin for CPUs whose int8 kernels differ in
the last digits (README says so); a different file's scores fall far outside it.
"""

from __future__ import annotations

import json
import math
import re
import urllib.request
from pathlib import Path

import grpc
import pytest
from harness import ServerHandle

from speechsense.models import bundled_model
from speechsense.server.config import ServerOptions, WebOptions
from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc

pytestmark = pytest.mark.slow  # a server on the bundled default model
REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
LOG_MARGIN = 0.25  # |log served - log quoted| allowed per score


def quoted_reply(method: str) -> str:
    """The comment lines README shows under the first grpcurl call of `method` (one string, '# ' stripped)."""
    block = README[README.index(f"speechsense.v1.EmotionService/{method}"):]
    lines = block.splitlines()[1:]
    while not lines[0].startswith("# "):
        lines.pop(0)
    reply = []
    for line in lines:
        if not line.startswith("# "):
            break
        reply.append(line[2:].strip())
    return " ".join(reply)


@pytest.fixture(scope="module")
def served():
    handle = ServerHandle(ServerOptions(model_path=bundled_model(), host="127.0.0.1", port=0,
                                        web=WebOptions(port=0)))
    clip = (REPO / "examples" / "03-01-05-02-01-01-02.flac").read_bytes()
    with grpc.insecure_channel(handle.address) as channel:
        stub = emotion_pb2_grpc.EmotionServiceStub(channel)
        yield handle, stub.GetModelInfo(pb.GetModelInfoRequest()), stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=clip))
    handle.stop()


def test_the_model_info_sample_names_the_served_file(served):
    _, info, _ = served
    text = quoted_reply("GetModelInfo")
    assert f'"model_name": "{info.model_name}"' in text and f'"model_version": "{info.model_version}"' in text
    assert f'"calibration_size": {info.calibration_size}' in text


def test_the_analyze_clip_sample_is_the_served_reply(served):
    _, _, reply = served
    text = quoted_reply("AnalyzeClip")
    (window,) = reply.windows
    scores = {s.label: s.score for s in window.scores}
    quoted = re.findall(r'\{"label": "(\w+)", "score": ([0-9.e+-]+)\}', text)
    assert len(quoted) >= 2
    for label, value in quoted:
        assert abs(math.log(scores[label]) - math.log(float(value))) < LOG_MARGIN, (label, value, scores[label])
    top = re.search(r'"top_label": "(\w+)", "top_score": ([0-9.e+-]+)', text)
    assert top[1] == window.top_label and abs(math.log(1 - window.top_score) - math.log(1 - float(top[2]))) < LOG_MARGIN
    assert f'"end_seconds": {window.end_seconds:g}' in text
    assert f'"dominant_label": "{reply.summary.dominant_label}"' in text
    assert float(re.search(r'"audio_seconds": ([0-9.]+)', text)[1]) == pytest.approx(reply.summary.audio_seconds)
    assert f'"windows_analyzed": {reply.summary.windows_analyzed}' in text


def test_the_json_mapping_keeps_defaults_as_readme_says(served):
    handle, _, _ = served
    promised = re.search(r'window 0 carries `([^`]+)`', README)[1]  # e.g. "index":"0","startSeconds":0.0
    body = (REPO / "examples" / "03-01-05-02-01-01-02.flac").read_bytes()
    request = urllib.request.Request(f"http://127.0.0.1:{handle.server.web_port}/v1/analyze", data=body,
                                     headers={"Content-Type": "audio/flac"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        text = answer.read().decode()
    assert promised in text
    assert json.loads(text)["windows"][0]["index"] == "0"
