"""The batched front-end (compute_features) equals librosa's per-window path (librosa_features).

Tolerance: each column's max abs difference must stay within 1e-4 of that column's range over
the windows compared. Measured on the synthetic windows below: at most 3.0e-6 of the range (MFCC
39, float32 rounding in the mel and DCT products, which librosa computes as einsum and FFT-DCT);
ZCR (integer counts) and spectral contrast (the same float64 FFT and sorts) came out exactly equal.
A real semantic slip (padding mode, filterbank norm, a band edge, a dB floor) moves columns by
whole percents of their range, far past the tolerance.
"""

from __future__ import annotations

import glob

import numpy as np
import pytest
from synth import speech_like, syllables

from speechsense.audio import load_file
from speechsense.features import FeatureConfig, compute_features, librosa_features, prepare_window, whisper_log_mel
from speechsense.models import bundled_model
from speechsense.server.config import EngineOptions
from speechsense.server.model import EmotionModel

HYBRID = FeatureConfig(n_mfcc=40, n_mels=40, deltas=True, contrast_bands=5)  # the shipped model's
CONFIGS = [HYBRID, FeatureConfig(), FeatureConfig(n_mfcc=20, n_mels=64, n_fft=1024, hop_length=256,
                                                  deltas=True, contrast_bands=3, window_seconds=2.0)]
TOLERANCE = 1e-4  # of each column's range


def column_ratios(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Max abs difference of each column over its range in old."""
    diff = np.abs(new - old).max(axis=(0, 1))
    spread = old.max(axis=(0, 1)) - old.min(axis=(0, 1))
    return diff / np.maximum(spread, 1e-6)


def assert_equal_features(new: np.ndarray, old: np.ndarray, cfg: FeatureConfig) -> None:
    ratios = column_ratios(new, old)
    worst = int(ratios.argmax())
    assert ratios.max() <= TOLERANCE, f"{cfg.column_names()[worst]} differs by {ratios.max():.2e} of its range"
    if cfg.zcr:  # integer crossing counts: no rounding to differ in
        col = cfg.column_names().index("zcr")
        np.testing.assert_array_equal(new[..., col], old[..., col])


def synthetic_windows(cfg: FeatureConfig) -> np.ndarray:
    """Prepared windows of varied content: voiced speech (cut, padded, trimmed), silence, noise, a tone,
    near-silence (the dB floors), and a clipped square wave (every ZCR and contrast extreme)."""
    n, rng = cfg.window_samples, np.random.default_rng(0)
    t = np.arange(n) / cfg.sample_rate
    raw = [speech_like(3.5, seed=1), speech_like(1.2, seed=2), syllables(2.2, seed=3),
           np.zeros(n, np.float32), 0.3 * rng.standard_normal(n), np.sin(2 * np.pi * 440 * t),
           1e-4 * speech_like(3.0, seed=4), np.sign(np.sin(2 * np.pi * 97 * t))]
    return np.stack([prepare_window(np.asarray(r, np.float32), cfg) for r in raw])


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.feature_set}-fft{c.n_fft}")
def test_batched_front_end_equals_librosa_on_synthetic_windows(cfg):
    windows = synthetic_windows(cfg)
    old = np.stack([librosa_features(w, cfg) for w in windows])
    new = compute_features(windows, cfg)
    assert new.shape == old.shape == (len(windows), cfg.frames, cfg.n_features) and new.dtype == np.float32
    assert_equal_features(new, old, cfg)


def test_front_end_rejects_bad_input():
    with pytest.raises(ValueError, match="samples"):
        compute_features(np.zeros((2, 100), np.float32), HYBRID)
    with pytest.raises(ValueError, match="mfcc kind"):
        librosa_features(np.zeros(48_000, np.float32), FeatureConfig.whisper())
    assert compute_features(np.zeros((0, HYBRID.window_samples), np.float32), HYBRID).shape == (0, 301, 88)


def real_windows(datasets, cfg: FeatureConfig, per_corpus: int = 20) -> np.ndarray:
    """The first window of clips spread over RAVDESS's actors and emotions and TESS's folders, prepared
    as the server prepares them."""
    clips = []
    for pattern in ("ravdess/Actor_*/*.flac", "tess/*/*.flac"):
        found = sorted(glob.glob(str(datasets / pattern)))
        clips += found[:: max(1, len(found) // per_corpus)][:per_corpus]
    return np.stack([prepare_window(load_file(c, cfg.sample_rate)[:cfg.window_samples], cfg) for c in clips])


def _classifier(path):
    """A waveform file's graph from its standardised features on (what follows the in-graph front-end)."""
    import onnx
    import onnxruntime as ort
    from onnx.utils import Extractor

    from speechsense.export.waveform import FEATURES

    inferred = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    part = Extractor(inferred).extract_model([FEATURES], ["probabilities"])
    session = ort.InferenceSession(part.SerializeToString(), providers=["CPUExecutionProvider"])
    return lambda features: session.run(None, {FEATURES: features.astype(np.float32)})[0]


@pytest.mark.corpus
def test_front_end_equals_librosa_on_real_windows_and_keeps_every_prediction(datasets):
    path = bundled_model("hybrid")  # the shipped mfcc model, whichever family is the default
    if not path.is_file():
        pytest.skip(f"no bundled hybrid model at {path}")
    model = EmotionModel(path, EngineOptions())
    cfg = model.meta.feature_config
    windows = real_windows(datasets, cfg)
    assert len(windows) == 40
    old = np.stack([librosa_features(w, cfg) for w in windows])
    new = compute_features(windows, cfg)
    assert_equal_features(new, old, cfg)
    classify = _classifier(path) if model.takes_waveform else model.predict
    p_old = classify(model.meta.normalizer.apply(old))
    p_new = classify(model.meta.normalizer.apply(new))
    changed = int((p_old.argmax(axis=1) != p_new.argmax(axis=1)).sum())
    assert changed == 0, f"{changed} of {len(windows)} predictions changed"
    assert np.abs(p_old - p_new).max() < 1e-3


def test_whisper_features_are_computed_in_chunks_with_each_windows_values_unchanged():
    cfg = FeatureConfig.whisper()
    windows = np.stack([prepare_window(speech_like(3.0, seed=s), cfg) for s in range(9)])  # more than a chunk
    np.testing.assert_array_equal(compute_features(windows, cfg), whisper_log_mel(windows, cfg))
    np.testing.assert_array_equal(compute_features(windows[4], cfg), whisper_log_mel(windows[4:5], cfg)[0])
