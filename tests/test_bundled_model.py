"""Each bundled model as shipped (one per family): valid metadata, loads in the server, scores the example clips.

The example clips are RAVDESS clips the model was trained on, so their labels are expected back:
a change to the feature code or window preprocessing that breaks train/serve agreement fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from speechsense.labels import RAVDESS_EMOTIONS
from speechsense.models import BUNDLED_MODELS, bundled_model
from speechsense.server.config import ServerOptions
from speechsense.v1 import emotion_pb2 as pb

pytestmark = pytest.mark.slow  # a server on each bundled model, the full-size ones
EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.flac"))


@pytest.fixture(scope="module", params=sorted(BUNDLED_MODELS))
def bundled_stub(request):
    """A real server on an ephemeral port serving one bundled family's file (both ship, so both must load)."""
    import grpc
    from harness import ServerHandle

    from speechsense.v1 import emotion_pb2_grpc

    path = bundled_model(request.param)
    assert path.is_file(), f"bundled {request.param} model missing at {path}"
    handle = ServerHandle(ServerOptions(model_path=path, host="127.0.0.1", port=0))
    with grpc.insecure_channel(handle.address) as channel:
        yield request.param, emotion_pb2_grpc.EmotionServiceStub(channel)
    handle.stop()


def test_model_info_carries_measured_metrics(bundled_stub):
    family, stub = bundled_stub
    info = stub.GetModelInfo(pb.GetModelInfoRequest())
    assert info.model_family == family
    assert info.model_name and info.model_version
    assert len(info.labels) == 8 and info.sample_rate_hz == 16000
    assert 0.5 < info.metrics.random_accuracy <= 1 and 0 < info.metrics.speaker_uar_mean <= 1
    assert "speaker" in info.metrics_json and "random" in info.metrics_json


@pytest.mark.parametrize("clip", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_recognised(bundled_stub, clip):
    reply = bundled_stub[1].AnalyzeClip(pb.AnalyzeClipRequest(encoded=clip.read_bytes(), session_tag=clip.name))
    assert reply.windows and all(w.is_speech for w in reply.windows)
    for w in reply.windows:
        assert sum(s.score for s in w.scores) == pytest.approx(1.0, abs=1e-4)
    assert reply.summary.dominant_label == RAVDESS_EMOTIONS[clip.name.split("-")[2]]


@pytest.mark.parametrize("clip", EXAMPLES, ids=lambda p: p.name)
def test_the_self_contained_example_names_what_the_server_names(bundled_stub, example_python, clip):
    """examples/score_wav.py, run where only numpy, soundfile and onnxruntime are installed, prints the
    server's top label for the same clip and file."""
    import subprocess

    family, stub = bundled_stub
    script = Path(__file__).resolve().parent.parent / "examples" / "score_wav.py"
    done = subprocess.run([str(example_python), str(script), str(bundled_model(family)), str(clip)],
                          capture_output=True, text=True, timeout=120, cwd=example_python.parent)
    assert done.returncode == 0, done.stderr
    reply = stub.AnalyzeClip(pb.AnalyzeClipRequest(encoded=clip.read_bytes()))
    assert done.stdout.strip() == reply.summary.dominant_label


def test_the_example_venv_holds_no_speechsense_and_no_librosa(example_python):
    import subprocess

    for module in ("speechsense", "librosa", "scipy"):
        done = subprocess.run([str(example_python), "-c", f"import {module}"], capture_output=True, text=True,
                              cwd=example_python.parent)  # not the repository root, which holds speechsense/
        assert done.returncode != 0, f"{module} is importable in the example's venv"
