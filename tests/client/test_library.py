"""`from speechsense import Client` against a real server: clips, streams (for and async for), info, profiles."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth import RATE, speech_like

from speechsense import Client
from speechsense.client.options import ClientError
from speechsense.client.results import SummaryView, WindowView
from speechsense.labels import LABELS

REPO = Path(__file__).resolve().parents[2]


def chunks_of(samples: np.ndarray, step: int = RATE // 10):
    return (samples[i:i + step] for i in range(0, len(samples), step))


def test_a_clip_as_samples_or_file_and_a_stream_read_the_same(server_address, tmp_path):
    samples = speech_like(5.0)
    path = tmp_path / "talk.wav"
    sf.write(path, samples, RATE, subtype="FLOAT")
    with Client(server_address) as client:
        from_samples, from_file = client.analyze(samples, RATE), client.analyze_file(path)
        streamed = list(client.stream(chunks_of(samples), rate=RATE))
    windows, summary = streamed[:-1], streamed[-1]
    assert all(isinstance(w, WindowView) for w in windows) and isinstance(summary, SummaryView)
    assert [w.index for w in windows] == [w.index for w in from_samples.windows] == [0, 1, 2]
    for a, b, c in zip(from_samples.windows, from_file.windows, windows, strict=True):
        assert a.top_label == b.top_label == c.top_label
        assert a.scores == pytest.approx(c.scores, abs=1e-4)
    assert summary.windows_analyzed == from_samples.summary.windows_analyzed == 3


def test_async_for_gives_the_same_stream(server_address):
    samples = speech_like(4.0)

    async def collect(client):
        return [result async for result in client.stream(chunks_of(samples), rate=RATE)]

    with Client(server_address) as client:
        results = asyncio.run(collect(client))
    assert [type(r).__name__ for r in results] == ["WindowView", "WindowView", "SummaryView"]


def test_model_info_and_a_refused_profile_are_typed(server_address):
    with Client(server_address) as client:
        info = client.model_info()
        with pytest.raises(ClientError, match="FAILED_PRECONDITION"):
            client.enrol(speech_like(8.0), RATE)  # the test model has no calibration
    assert info.sample_rate_hz == RATE and len(info.labels) == 8


def test_readme_example_runs_as_written(server_address):
    readme = (REPO / "README.md").read_text()
    block = re.search(r"### From Python\n.*?```python\n(.*?)```", readme, re.S)[1]
    code = block.replace('"localhost:50051"', repr(server_address))
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    with Client(server_address) as client:
        assert lines[0] == client.model_info().model_name
    assert lines[1].split()[0] in LABELS  # the dominant label, then each window's
    assert lines[2].startswith("WindowView(") and lines[-1].startswith("SummaryView(")
