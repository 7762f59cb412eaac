"""Room augmentation (training/rooms.py, augment.py's room kinds) on synthetic audio and a tiny corpus."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_tone, write

from speechsense.training import rooms
from speechsense.training.augment import AugmentConfig, Variant, apply_variant

RATE = 16_000


def _speech(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """Syllable-like bursts of a harmonic tone with pauses between them."""
    return np.concatenate([np.concatenate([make_tone(RATE, 0.25, 140 + 20 * k, seed + k), np.zeros(1200, np.float32)])
                           for k in range(int(seconds / 0.325))])


@pytest.fixture
def babble_root(tmp_path):
    """Neutral clips of every corpus layout (several talkers each) plus non-neutral ones."""
    root = tmp_path / "data"
    for actor in range(1, 5):
        write(root / "ravdess" / f"Actor_{actor:02d}" / f"03-01-01-01-01-01-{actor:02d}.flac",
              make_tone(RATE, 1.0, 120 + 10 * actor, actor), RATE)
        write(root / "ravdess" / f"Actor_{actor:02d}" / f"03-01-05-01-01-01-{actor:02d}.flac",
              make_tone(RATE, 1.0, 900, actor), RATE)
    for spk in ("OAF", "YAF"):
        write(root / "tess" / f"{spk}_neutral" / f"{spk}_back_neutral.flac", make_tone(RATE, 1.0, 400, 7), RATE)
    for spk in ("03", "08", "10", "16"):
        write(root / "emodb" / "wav" / f"{spk}a01Nc.flac", make_tone(RATE, 1.0, 200 + int(spk), int(spk)), RATE)
        write(root / "emodb" / "wav" / f"{spk}a01Wa.flac", make_tone(RATE, 1.0, 999, 1), RATE)
    return root


def _snr(clean: np.ndarray, mixed: np.ndarray) -> float:
    return 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean((mixed - clean).astype(np.float64) ** 2))


@pytest.mark.parametrize("snr", [0.0, 5.0, 10.0, 30.0])
@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_coloured_noise_at_requested_snr(snr, beta):
    x = _speech()
    y = rooms.mix_at_snr(x, rooms.coloured_noise(x.size, beta, np.random.default_rng(1)), snr)
    assert abs(_snr(x, y) - snr) < 0.5


def test_coloured_noise_slopes():
    """Pink noise has about 3 dB less power per octave, brown about 6, white none."""
    for beta, slope in ((0.0, 0.0), (1.0, -3.0), (2.0, -6.0)):
        x = rooms.coloured_noise(2 ** 16, beta, np.random.default_rng(0))
        p = np.abs(np.fft.rfft(x)) ** 2
        low, high = p[500:1000].mean(), p[1000:2000].mean()
        assert abs(10 * np.log10(high / low) - slope) < 1.0, beta


def test_babble_uses_other_corpora_neutral_talkers(babble_root):
    pool = rooms.pool_at(str(babble_root), RATE, ("ravdess", "tess", "emodb"))
    assert pool.corpora() == {"ravdess", "tess", "emodb"}
    assert len(pool._clips) == 4 + 2 + 4  # neutral only
    b = pool.babble(RATE * 2, 4, np.random.default_rng(0), corpus="ravdess")
    assert b.size == RATE * 2 and abs(np.mean(b ** 2) - 1.0) < 1e-6
    assert all(t.corpus != "ravdess" for t in pool._cache.values())
    with pytest.raises(ValueError, match="talkers outside"):
        pool.babble(RATE, 7, np.random.default_rng(0), corpus="ravdess")  # only 6 of other corpora


def test_babble_variant_snr_and_determinism(babble_root):
    x = _speech()
    path = str(babble_root / "ravdess" / "Actor_09" / "03-01-03-01-01-01-09.flac")
    v = Variant("babble", 0, (10.0, 10.0), babble_root=str(babble_root), babble_talkers=(4, 4))
    y = apply_variant(x, path, v, RATE)
    assert abs(_snr(x, y) - 10.0) < 0.5
    assert np.array_equal(y, apply_variant(x, path, v, RATE))
    other = Variant("babble", 1, (10.0, 10.0), babble_root=str(babble_root))
    assert not np.array_equal(y, apply_variant(x, path, other, RATE))
    with pytest.raises(ValueError, match="babble_root"):
        apply_variant(x, path, Variant("babble"), RATE)


def test_gain_is_exact_and_quantised():
    x = 0.1 * _speech()
    for gain in (-30.0, -20.0, 0.0):
        y = rooms.apply_gain(x, gain, pcm16=False)
        assert np.allclose(y, x * 10 ** (gain / 20), atol=1e-7)
        q = rooms.apply_gain(x, gain)
        assert np.allclose(q * 32767, np.round(q * 32767), atol=1e-3)  # on the 16-bit grid
        assert np.max(np.abs(q - y)) <= 0.5 / 32767 + 1e-7
    assert np.max(np.abs(rooms.apply_gain(np.full(10, 0.9, np.float32), 6.0))) <= 1.0  # clipped at full scale


@pytest.mark.parametrize("codec", [False, True])
def test_telephone_band_has_no_energy_above_3400_hz(codec):
    x = rooms.coloured_noise(RATE * 2, 0.0, np.random.default_rng(3)).astype(np.float32) * 0.1
    y = rooms.telephone(x, RATE, codec=codec)
    assert y.size == x.size
    p = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(y.size, 1 / RATE)
    assert p[f > 3600].sum() / p.sum() < 0.01
    assert p[f < 200].sum() / p.sum() < 0.01
    px = np.abs(np.fft.rfft(x)) ** 2
    assert px[f > 3600].sum() / px.sum() > 0.5  # the input had most of its energy there


def _decay_seconds(y: np.ndarray, drop_db: float = 30.0) -> float:
    """Time after a burst's end for the 10 ms level to fall drop_db below the level just before its end."""
    frame = RATE // 100
    level = 10 * np.log10(np.mean(y[:y.size // frame * frame].reshape(-1, frame) ** 2, axis=1) + 1e-20)
    end = int(0.5 * RATE) // frame - 1
    below = np.flatnonzero(level[end:] < level[end] - drop_db)
    return below[0] * frame / RATE if below.size else np.inf


@pytest.mark.parametrize("rt60", [0.3, 0.6, 1.0])
def test_reverb_lengthens_decay_as_rt60(rt60):
    import pyroomacoustics as pra

    h = rooms.room_impulse_response(rt60, RATE, 0)
    assert abs(pra.experimental.measure_rt60(h, fs=RATE, decay_db=30) - rt60) < 0.15 * rt60
    burst = np.zeros(RATE * 2, np.float32)
    burst[:RATE // 2] = rooms.coloured_noise(RATE // 2, 0.0, np.random.default_rng(0))
    wet = rooms.reverberate(burst, rt60, RATE)
    assert _decay_seconds(burst) <= 0.01
    assert 0.3 * rt60 < _decay_seconds(wet) < 0.7 * rt60  # 30 dB of a 60 dB decay: about half of RT60
    assert np.array_equal(wet, rooms.reverberate(burst, rt60, RATE))


def test_room_variants_deterministic_per_clip_variant_seed(babble_root):
    x = _speech()
    config = AugmentConfig(room_copies=3, babble_root=str(babble_root))
    variants = config.variants()
    assert [v.kind for v in variants] == ["room"] * 3
    a, b = "/x/ravdess/Actor_09/03-01-03-01-01-01-09.flac", "/x/ravdess/Actor_10/03-01-03-01-01-01-10.flac"
    outs = [apply_variant(x, a, v, RATE) for v in variants]
    assert all(np.array_equal(o, apply_variant(x, a, v, RATE)) for o, v in zip(outs, variants, strict=True))
    assert not np.array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], apply_variant(x, b, variants[0], RATE))
    other_seed = AugmentConfig(room_copies=1, babble_root=str(babble_root), seed=1).variants()[0]
    assert not np.array_equal(outs[0], apply_variant(x, a, other_seed, RATE))
    assert all(o.shape == x.shape and o.dtype == np.float32 and np.isfinite(o).all() for o in outs)


def test_old_variant_keys_unchanged():
    """Feature caches are keyed by Variant.key(): the room fields must not change the older kinds' keys."""
    assert Variant("noise", 1).key() == ('{"copy": 1, "kind": "noise", "noise_with_speed": false, "seed": 0, '
                                          '"snr_db": [15.0, 30.0], "speeds": []}')
    assert "rt60" in Variant("reverb", rt60=(0.3, 0.3)).key()
    with pytest.raises(ValueError, match="unknown variant kind"):
        Variant("chorus")
