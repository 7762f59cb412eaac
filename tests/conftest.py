"""Shared fixtures: a tiny real ONNX model, synthetic speech, and real servers on ephemeral ports.

tests/ and benchmarks/ are on the import path (pyproject's pytest `pythonpath`), so helpers are imported by bare
name: `from synth import speech_like`, `from rawclient import RawClient`.
"""

from __future__ import annotations

import dataclasses
from importlib.metadata import version
from pathlib import Path

import grpc
import numpy as np
import pytest
from harness import ServerHandle
from synth import RATE, speech_like, tiny_model

from speechsense.server.config import EngineOptions, ServerOptions
from speechsense.server.engine import Engine
from speechsense.server.metrics import ServerMetrics
from speechsense.server.model import EmotionModel
from speechsense.v1 import emotion_pb2_grpc

# The fixtures below that start a server on a socket (or build a venv): a test that uses one, itself or through
# another fixture, is slow, so that `pytest -m "not slow"` leaves it out without a marker of its own.
SERVER_FIXTURES = frozenset({"server_factory", "shared_server", "bundled_server", "example_python"})


@pytest.hookimpl(tryfirst=True)  # before -m deselects by markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture(scope="session")
def base_options(tiny_model_path) -> ServerOptions:
    return ServerOptions(model_path=tiny_model_path, host="127.0.0.1", port=0, grace_seconds=2)


@pytest.fixture
def engine_factory(tiny_model_path):
    """make(**engine_options) -> an Engine on the tiny model, not started; the test's event loop must
    close() it (an Engine's queues and tasks belong to the loop that uses them)."""

    def make(**options) -> Engine:
        engine_options = EngineOptions(**options)
        return Engine(EmotionModel(tiny_model_path, engine_options), engine_options, ServerMetrics())

    return make


@pytest.fixture
def server_factory(base_options):
    """start(port=0, **overrides) -> ServerHandle; every server started is stopped after the test."""
    handles: list[ServerHandle] = []

    def start(port: int = 0, **overrides) -> ServerHandle:
        engine = overrides.pop("engine", base_options.engine)
        handle = ServerHandle(dataclasses.replace(base_options, port=port, engine=engine, **overrides))
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture(scope="session")
def shared_server(base_options):
    handle = ServerHandle(base_options)
    yield handle
    handle.stop()


@pytest.fixture
def server_address(shared_server) -> str:
    return shared_server.address


@pytest.fixture
def stub(server_address):
    with grpc.insecure_channel(server_address) as channel:
        yield emotion_pb2_grpc.EmotionServiceStub(channel)


@pytest.fixture(scope="session")
def speech_clip() -> tuple[np.ndarray, int]:
    """About 7 s of synthetic voiced speech at 16 kHz (passes the VAD, needs no corpus)."""
    return speech_like(7.0), RATE


@pytest.fixture
def datasets() -> Path:
    """The corpora where training looks for them: $SPEECHSENSE_DATA, else ../shared/datasets beside the repo."""
    from speechsense.training.corpora import default_data_root

    root = default_data_root()
    if not (root / "ravdess").is_dir():
        pytest.skip(f"corpora not found at {root} (set SPEECHSENSE_DATA, or keep them in ../shared/datasets)")
    return root


@pytest.fixture(scope="module")
def bundled_server():
    """A real server on the bundled model (skips when the model file is absent)."""
    from speechsense.models import bundled_model

    if not bundled_model().is_file():
        pytest.skip(f"no bundled model at {bundled_model()}")
    handle = ServerHandle(ServerOptions(model_path=bundled_model(), host="127.0.0.1", port=0))
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def example_python(tmp_path_factory) -> Path:
    """A venv holding only numpy, soundfile and onnxruntime (the versions installed here) and their dependencies, for
    examples/score_wav.py; skips when pip cannot reach a package index."""
    import subprocess
    import venv

    folder = tmp_path_factory.mktemp("example-venv")
    venv.create(folder, with_pip=True)
    python = folder / "bin" / "python"
    wanted = [f"{name}=={version(name)}" for name in ("numpy", "soundfile", "onnxruntime")]
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *wanted],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.skip(f"could not install {wanted} into a fresh venv: {done.stderr.strip()[-300:]}")
    return python
