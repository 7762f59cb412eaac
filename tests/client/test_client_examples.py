"""The bundled example clips: small, decodable, and each attributed in examples/README.md."""

from __future__ import annotations

from pathlib import Path

from speechsense.client.sources import FileSource
from speechsense.labels import RAVDESS_EMOTIONS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_examples_are_small_decodable_and_attributed():
    clips = sorted(EXAMPLES.glob("*.flac"))
    readme = (EXAMPLES / "README.md").read_text()
    assert 3 <= len(clips) <= 4
    assert sum(c.stat().st_size for c in clips) < 1_000_000
    assert "CC BY-NC-SA 4.0" in readme and "e0196391" in readme and "Livingstone" in readme
    for clip in clips:
        assert clip.name in readme
        emotion = RAVDESS_EMOTIONS[clip.name.split("-")[2]]
        assert f"| {emotion} |" in readme
        assert 2.0 < FileSource(clip, speed=None).seconds < 6.0
