"""The shared core: features, windows and audio give the same result however the audio arrives."""

from __future__ import annotations

import io
from types import SimpleNamespace

import librosa
import numpy as np
import pytest
import soundfile as sf
from synth import speech_like

from speechsense.audio import AudioError, Encoding, PcmFormat, StreamResampler, decode_bytes, pcm_to_mono, resample
from speechsense.features import (
    FeatureConfig,
    Normalizer,
    compute_features,
    librosa_features,
    prepare_window,
    window_features,
)
from speechsense.labels import LABELS, RAVDESS_EMOTIONS, TESS_EMOTIONS, label_index
from speechsense.windowing import StreamWindower, expected_windows


def stream_windows(samples, chunks, window, hop, rate=16000):
    w = StreamWindower(window, hop, rate)
    out, pos = [], 0
    for size in chunks:
        out += list(w.push(samples[pos:pos + size]))
        pos += size
    out += list(w.push(samples[pos:]))
    last = w.finish()
    return out + ([last] if last else [])


@pytest.mark.parametrize("seed", range(4))
def test_features_same_whole_or_streamed_in_any_chunks(seed):
    cfg = FeatureConfig()
    samples = speech_like(6.3, seed=seed)
    rng = np.random.default_rng(seed)
    chunks = rng.integers(1, 9000, size=400)
    streamed = stream_windows(samples, chunks, cfg.window_samples, 16000)
    whole = [samples[i * 16000:i * 16000 + cfg.window_samples] for i in range(4)]
    assert len(streamed) == 4 == expected_windows(samples.size, cfg.window_samples, 16000, 16000)
    for got, want in zip(streamed, whole, strict=True):
        np.testing.assert_array_equal(window_features(got.samples, cfg), window_features(want, cfg))


def test_stream_resampler_matches_whole_signal():
    x = speech_like(4.0, rate=44100)
    whole = resample(x, 44100, 16000)
    r = StreamResampler(44100, 16000)
    parts = [r.push(x[i:i + 4410]) for i in range(0, x.size, 4410)] + [r.push(np.zeros(0, np.float32), last=True)]
    streamed = np.concatenate(parts)
    assert abs(streamed.size - whole.size) <= 1
    n = min(streamed.size, whole.size)
    assert np.max(np.abs(streamed[:n] - whole[:n])) < 1e-3


def test_feature_shape_and_config_roundtrip():
    cfg = FeatureConfig(deltas=True)
    x = window_features(speech_like(3.0), cfg)
    assert x.shape == (301, 28) == (cfg.frames, cfg.n_features) and x.dtype == np.float32
    assert FeatureConfig.from_json(cfg.to_json()) == cfg
    batch = compute_features(np.stack([prepare_window(speech_like(2.0, seed=s), cfg) for s in range(3)]), cfg)
    assert batch.shape == (3, 301, 28)
    with pytest.raises(ValueError, match="unknown keys"):
        FeatureConfig.from_json('{"n_mfcc": 13, "bogus": 1}')


def test_contrast_features_and_backward_compatible_config():
    cfg = FeatureConfig(n_mfcc=40, n_mels=40, deltas=True, contrast_bands=5)
    assert cfg.n_features == 40 + 40 + 1 + 1 + 6 and cfg.feature_set == "mfcc40+delta+rms+zcr+contrast5"
    windows = np.stack([prepare_window(speech_like(2.5, seed=s), cfg) for s in range(2)])
    batch = compute_features(windows, cfg)
    assert batch.shape == (2, 301, 88) and np.isfinite(batch).all()
    for i in range(2):  # a batch computes each window as if alone, even beside a louder one
        np.testing.assert_allclose(batch[i], compute_features(windows[i], cfg), atol=1e-4)
    assert batch[0, :, -6:].std() > 0  # the contrast rows carry signal
    # The shared STFT must not change the MFCCs that models were trained on: the librosa path is
    # bit-identical to librosa.feature.mfcc, and the batched one equal to float32 rounding (test_frontend.py).
    reference = librosa.feature.mfcc(y=windows[0], sr=16000, n_mfcc=40, n_mels=40, n_fft=512, hop_length=160)
    np.testing.assert_array_equal(librosa_features(windows[0], cfg)[:, :40], reference.T.astype(np.float32))
    np.testing.assert_allclose(compute_features(windows[0], cfg)[:, :40], reference.T, rtol=1e-5, atol=1e-3)
    assert FeatureConfig.from_json(cfg.to_json()) == cfg
    # Models exported before contrast existed have no such key, and their cache keys must not change.
    assert "contrast_bands" not in FeatureConfig().to_json()
    assert FeatureConfig.from_json(FeatureConfig().to_json()).contrast_bands == 0
    with pytest.raises(ValueError, match="contrast_bands"):
        FeatureConfig(contrast_bands=6)  # 200 Hz * 2**6 is above 8 kHz Nyquist


def test_a_column_subset_is_computed_identically_inside_the_superset():
    full = FeatureConfig(n_mfcc=40, n_mels=40, deltas=True, contrast_bands=5)
    window = prepare_window(speech_like(2.5, seed=3), full)
    for sub in (FeatureConfig(n_mfcc=40, n_mels=40), FeatureConfig(n_mfcc=13, n_mels=40, deltas=True),
                FeatureConfig(n_mfcc=40, n_mels=40, rms=False, zcr=False, contrast_bands=5)):
        cols = full.columns_of(sub)
        assert len(cols) == sub.n_features
        np.testing.assert_allclose(compute_features(window, full)[:, cols], compute_features(window, sub),
                                   rtol=1e-5, atol=1e-4)
    assert full.columns_of(full) == list(range(full.n_features))
    with pytest.raises(ValueError, match="n_mels"):
        full.columns_of(FeatureConfig(n_mfcc=13, n_mels=64))  # other mel bands: other MFCC values
    with pytest.raises(ValueError, match="contrast3_0"):
        full.columns_of(FeatureConfig(n_mfcc=40, n_mels=40, contrast_bands=3))
    with pytest.raises(ValueError, match="delta"):
        FeatureConfig(n_mfcc=40, n_mels=40).columns_of(full)


def test_prepare_window_trims_pads_and_normalises():
    cfg = FeatureConfig()
    quiet = np.concatenate([np.zeros(8000, np.float32), 0.1 * speech_like(1.0), np.zeros(8000, np.float32)])
    w = prepare_window(quiet, cfg)
    assert w.shape == (48000,)
    assert np.max(np.abs(w)) == pytest.approx(1.0)
    assert np.all(w[20000:] == 0)  # speech moved to the start, the rest padding
    assert np.max(np.abs(w[:2000])) > 0.05
    long = prepare_window(speech_like(5.0), cfg)
    assert long.shape == (48000,)


def test_normalizer_roundtrip():
    feats = np.random.default_rng(0).normal(3, 2, size=(10, 301, 15)).astype(np.float32)
    n = Normalizer.fit(feats)
    z = n.apply(feats)
    assert abs(z.mean()) < 1e-3 and z.std() == pytest.approx(1, abs=1e-2)
    again = Normalizer.from_json(n.to_json(), 15)
    np.testing.assert_array_equal(again.mean, n.mean)
    with pytest.raises(ValueError, match="15 features"):
        Normalizer.from_json(n.to_json(), 28)


def test_pcm_conversion():
    stereo = np.array([[0.5, -0.5], [0.25, 0.25]], np.float32)
    mono = pcm_to_mono(stereo.astype("<f4").tobytes(), PcmFormat(Encoding.FLOAT32, 16000, 2))
    np.testing.assert_allclose(mono, [0.0, 0.25])
    i16 = pcm_to_mono(np.array([16384, -32768], "<i2").tobytes(), PcmFormat(Encoding.LINEAR16, 8000))
    np.testing.assert_allclose(i16, [0.5, -1.0])
    with pytest.raises(AudioError, match="not a whole number"):
        pcm_to_mono(b"\0\0", PcmFormat(Encoding.LINEAR16, 16000, 2))
    with pytest.raises(AudioError, match="outside"):
        PcmFormat(Encoding.LINEAR16, 7999)


def test_every_encoding_has_a_sample_width_and_an_unknown_one_is_an_error():
    assert {e: e.sample_bytes for e in Encoding} == {Encoding.LINEAR16: 2, Encoding.FLOAT32: 4}
    unknown = SimpleNamespace(value="mulaw")  # an encoding added to the enum without its width
    with pytest.raises(AudioError, match="no sample width is known for encoding 'mulaw'"):
        Encoding.sample_bytes.fget(unknown)


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG", "AIFF"])
def test_decode_encoded_files(fmt):
    x = speech_like(1.0, rate=22050)
    buf = io.BytesIO()
    sf.write(buf, np.stack([x, x], 1), 22050, format=fmt)
    y = decode_bytes(buf.getvalue(), 16000)
    assert y.dtype == np.float32 and abs(y.size - 16000) <= 1


def test_labels_cover_both_corpora():
    assert len(LABELS) == 8 and set(RAVDESS_EMOTIONS.values()) == set(LABELS)
    assert TESS_EMOTIONS["ps"] == "surprised" and TESS_EMOTIONS["fear"] == "fearful"
    assert set(TESS_EMOTIONS.values()) == set(LABELS) - {"calm"}
    with pytest.raises(ValueError, match="unknown label"):
        label_index("bored")


def test_corpus_fixture_honours_speechsense_data(tmp_path, monkeypatch, request):
    """Corpus tests find the corpora where training does: $SPEECHSENSE_DATA first."""
    (tmp_path / "ravdess").mkdir()
    monkeypatch.setenv("SPEECHSENSE_DATA", str(tmp_path))
    assert request.getfixturevalue("datasets") == tmp_path
