"""Fixtures for the training and export tests: tiny synthetic corpora with the release quirks, real clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def make_tone(rate: int, seconds: float = 0.6, freq: float = 220.0, seed: int = 0) -> np.ndarray:
    """A voiced-like test signal: a harmonic tone with an envelope and a little noise."""
    t = np.arange(int(rate * seconds)) / rate
    rng = np.random.default_rng(seed)
    y = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 5)) * np.hanning(t.size)
    return (0.3 * y + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write(path: Path, samples: np.ndarray, rate: int, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, rate, format=fmt, subtype="PCM_16")
    return path


@pytest.fixture(scope="session")
def tone():
    """The synthetic test-signal generator, for tests that need audio without files."""
    return make_tone


@pytest.fixture
def quirky_corpus(tmp_path: Path) -> Path:
    """RAVDESS + TESS layouts holding each quirk of the original releases, plus one unreadable file."""
    root = tmp_path / "data"
    rav, tess = root / "ravdess", root / "tess"
    write(rav / "Actor_01" / "03-01-05-01-01-01-01.wav", np.stack([make_tone(48_000)] * 2, axis=1), 48_000)  # stereo
    write(rav / "Actor_02" / "03-01-03-02-01-01-02.wav", make_tone(48_000, freq=300), 48_000)
    write(rav / "Actor_02" / "03-01-08-01-02-02-02.flac", make_tone(16_000, freq=330), 16_000)
    write(tess / "OAF_Fear" / "OAF_back_fear.wav", make_tone(96_000), 96_000)  # the 96 kHz file
    write(tess / "YAF_fear" / "YAF_back_fear.wav", make_tone(24_414), 24_414, fmt="AIFF")  # AIFF named .wav
    write(tess / "OAF_neutral" / "OA_bite_neutral.wav", make_tone(24_414), 24_414)  # truncated prefix
    write(tess / "YAF_pleasant_surprised" / "YAF_dog_ps.flac", make_tone(16_000), 16_000)
    bad = tess / "OAF_angry" / "OAF_bad_angry.wav"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")  # unreadable
    return root


@pytest.fixture
def speaker_corpus(tmp_path: Path) -> Path:
    """One short clip per RAVDESS actor 1-20 (two emotions alternating) plus two TESS clips."""
    root = tmp_path / "spk"
    for actor in range(1, 21):
        emotion = "05" if actor % 3 else "03"
        name = f"03-01-{emotion}-01-01-01-{actor:02d}.flac"
        write(root / "ravdess" / f"Actor_{actor:02d}" / name, make_tone(16_000, 0.4, 150 + 10 * actor, actor), 16_000)
    write(root / "tess" / "OAF_angry" / "OAF_back_angry.flac", make_tone(16_000, 0.4, 500), 16_000)
    write(root / "tess" / "YAF_happy" / "YAF_back_happy.flac", make_tone(16_000, 0.4, 600), 16_000)
    return root


@pytest.fixture
def random_corpus(tmp_path: Path) -> Path:
    """Two emotions x two corpora with enough clips in each for a stratified 80/10/10 split."""
    root = tmp_path / "rnd"
    for k in range(16):
        for emotion, freq in (("05", 200), ("03", 300)):
            name = f"03-01-{emotion}-0{k % 2 + 1}-0{k // 2 % 2 + 1}-0{k // 4 % 2 + 1}-0{k // 8 + 1}.flac"
            write(root / "ravdess" / f"Actor_0{k // 8 + 1}" / name, make_tone(16_000, 0.4, freq + k, k), 16_000)
    for k in range(12):
        for folder, freq in (("OAF_angry", 500), ("YAF_happy", 600)):
            write(root / "tess" / folder / f"{folder[:3]}_w{k}_{folder[4:]}.flac",
                  make_tone(16_000, 0.4, freq + k, k), 16_000)
    return root


@pytest.fixture(scope="session")
def real_clips() -> list[Path]:
    """A few dozen real clips (every RAVDESS emotion, both TESS speakers); skipped without the corpora."""
    from speechsense.training.corpora import default_data_root

    root = default_data_root()  # $SPEECHSENSE_DATA, else ../shared/datasets, as training reads it
    if not root.is_dir():
        pytest.skip(f"corpora not found at {root} (set SPEECHSENSE_DATA, or keep them in ../shared/datasets)")
    rav = sorted((root / "ravdess").glob("Actor_0[12]/*"))[::6]
    tess = sorted((root / "tess").glob("*/*"))[::200]
    return rav + tess


@pytest.fixture(scope="session")
def tiny_data():
    """Builds a small standardised-looking Data (31 frames x 15 features) whose classes are separable."""
    from speechsense.training.data import Data

    def build(n: int = 32, copies: int = 2) -> Data:
        rng = np.random.default_rng(0)
        y = np.arange(n) % 8
        x = rng.standard_normal((n, 31, 15)).astype(np.float32) + y[:, None, None] * 0.3
        aug = np.stack([x + 0.05 * rng.standard_normal(x.shape).astype(np.float32) for _ in range(copies)])
        return Data(x, y, aug, x[:8], y[:8], x[8:16], y[8:16], None, None, 0)

    return build
