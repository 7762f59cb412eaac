"""The adaptive speech gate: soft speech is speech, silence, steady noise and breath are not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gate_eval import SpeechGate
from synth import RATE, silence, speech_like

from speechsense.audio import load_file
from speechsense.server.config import EngineOptions, OptionsError
from speechsense.server.main import build_parser, options_from_args
from speechsense.server.vad import SpeechDetector

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
WINDOW = 3 * RATE


def _gain(x: np.ndarray, db: float) -> np.ndarray:
    """Gain on the 16-bit grid, as a microphone stream arrives."""
    return (np.round(np.clip(x * 10 ** (db / 20), -1, 1) * 32767) / 32767).astype(np.float32)


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64))))


def _noise(beta: float, level_db: float, seed: int) -> np.ndarray:
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(WINDOW))
    f = np.maximum(np.arange(spectrum.size), 1.0)
    x = np.fft.irfft(spectrum / f ** (beta / 2), WINDOW)
    return _gain(x / np.sqrt(np.mean(x ** 2)), level_db)


def _breath(level_db: float, seed: int) -> np.ndarray:
    """Band-limited noise in two Hann-shaped bursts: loud, modulated, voiced-looking to webrtcvad, no pitch."""
    from scipy import signal

    x = signal.sosfilt(signal.butter(4, (300, 2500), "bandpass", fs=RATE, output="sos"),
                       np.random.default_rng(seed).standard_normal(WINDOW))
    env = np.zeros(WINDOW)
    env[4000:14000] = np.hanning(10000)
    env[28000:40000] = np.hanning(12000)
    return _gain(x * env / np.sqrt(np.mean((x * env) ** 2)) * 10 ** (level_db / 20) + 1e-4 * x, 0.0)


@pytest.fixture(scope="module")
def adaptive() -> SpeechDetector:
    return SpeechDetector.from_options(RATE, EngineOptions())


@pytest.fixture(scope="module")
def absolute() -> SpeechDetector:
    return SpeechDetector(RATE, 1, 0.1, -50.0, gate="absolute")


@pytest.mark.parametrize("gain", [0.0, -20.0, -30.0, -40.0])
def test_soft_synthetic_speech_is_speech(adaptive, gain):
    x = _gain(speech_like(3.0, seed=3), gain - 6.0)
    assert adaptive.is_speech(x), f"speech at {_rms_db(x):.0f} dBFS RMS gated"


def test_the_old_gate_drops_speech_60_dbfs_rms_the_new_one_keeps_it(adaptive, absolute):
    x = speech_like(3.0, seed=5)
    soft = _gain(x, -60.0 - _rms_db(x))
    assert -61 < _rms_db(soft) < -59
    assert not absolute.is_speech(soft)  # the old gate's failure
    assert adaptive.is_speech(soft)


@pytest.mark.parametrize("level", [-70.0, -40.0, -10.0])
@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_steady_noise_is_not_speech_at_any_level(adaptive, beta, level):
    windows = [_noise(beta, level, seed) for seed in range(5)]
    assert not any(adaptive.is_speech(w) for w in windows)


@pytest.mark.parametrize("level", [-60.0, -20.0])
def test_breath_is_not_speech(adaptive, level):
    assert not any(adaptive.is_speech(_breath(level, seed)) for seed in range(5))


def test_silence_and_hum_are_not_speech(adaptive):
    t = np.arange(WINDOW) / RATE
    hum = _gain(0.1 * np.sin(2 * np.pi * 50 * t) + 0.03 * np.sin(2 * np.pi * 150 * t), 0.0)
    for x in (np.zeros(WINDOW, np.float32), silence(3.0), _gain(silence(3.0), 40.0), hum):
        assert not adaptive.is_speech(x)


def test_speech_gate_keeps_a_stream_floor_and_level(adaptive):
    gate = SpeechGate(adaptive)
    assert gate.floor_db is None and gate.level_db is None
    quiet = _gain(silence(3.0), 20.0)
    assert not gate.is_speech(quiet)
    floor = gate.floor_db
    assert floor is not None and floor < -50
    speech = _gain(speech_like(3.0, seed=2), -20.0)
    assert gate.is_speech(speech)
    assert gate.level_db is not None and gate.level_db > floor + 20
    assert gate.floor_db <= floor  # the lowest floor of recent windows: speech never raises it
    assert not gate.is_speech(_breath(-40.0, 1))
    assert not gate.is_speech(_noise(2.0, -30.0, 9))


def test_absolute_gate_is_the_old_rule(absolute):
    loud = speech_like(3.0, seed=1)
    assert absolute.is_speech(loud) and not absolute.is_speech(_gain(loud, -40.0))
    assert SpeechGate(absolute).is_speech(loud)


def test_gate_options_validate_and_come_from_flags():
    with pytest.raises(OptionsError, match="gate must be"):
        EngineOptions(gate="loud")
    with pytest.raises(OptionsError, match="gate_margin_db"):
        EngineOptions(gate_margin_db=-1)
    with pytest.raises(OptionsError, match="gate_periodicity"):
        EngineOptions(gate_periodicity=0)
    args = build_parser().parse_args(["--gate", "absolute", "--min-speech-dbfs", "-50", "--gate-margin-db", "12",
                                      "--gate-periodic-frames", "4", "--gate-periodicity", "0.7"])
    engine = options_from_args(args).engine
    d = SpeechDetector.from_options(RATE, engine)
    assert (d.gate, d.min_dbfs, d.margin_db, d.min_periodic_frames, d.periodicity) == ("absolute", -50.0, 12.0, 4, 0.7)


@pytest.mark.corpus
def test_real_clip_20_db_quieter_is_speech(adaptive, absolute):
    """Real voices played 20 dB quieter: the old gate called most of them no speech."""
    if not DATASETS.is_dir():
        pytest.skip(f"corpora not found at {DATASETS} (../shared/datasets relative to the repository)")
    files = sorted((DATASETS / "ravdess").glob("Actor_1[12]/*.flac"))[::3] + sorted(
        (DATASETS / "emodb" / "wav").glob("1[56]*.flac"))[::4]
    windows = [_gain(np.pad(x[:WINDOW], (0, max(0, WINDOW - x.size))), -20.0)
               for x in (load_file(f, RATE) for f in files)]
    assert len(windows) >= 40
    kept = np.mean([adaptive.is_speech(w) for w in windows])
    assert kept >= 0.97, f"{kept:.1%} of {len(windows)} quiet real windows flagged speech"
    assert np.mean([absolute.is_speech(w) for w in windows]) < kept
    tones = [_gain(np.resize(load_file(f, RATE)[:4800], WINDOW), 20.0) for f in files[:20]]
    assert not any(adaptive.is_speech(t) for t in tones)  # each clip's own room tone, 20 dB louder


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_speech_in_noise_is_still_speech(adaptive, beta):
    """Noise at 10 dB SNR raises the floor; the voice's pitch still shows in its low band."""
    for seed in range(3):
        x = speech_like(3.0, seed=seed) * 0.3
        noise = _noise(beta, 0.0, seed + 10)
        noisy = x + noise * np.sqrt(np.mean(x ** 2) / np.mean(noise ** 2) / 10)
        assert adaptive.is_speech(noisy.astype(np.float32)), (beta, seed)
