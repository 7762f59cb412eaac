"""Ensemble presets: members train with their own seeds, combine only when all are finished, export to ONNX."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from speechsense.features import FeatureConfig, Normalizer
from speechsense.training.augment import AugmentConfig
from speechsense.training.data import epoch_data, prepare_data
from speechsense.training.hybrid.ensemble import adapter_for, combine
from speechsense.training.hybrid.models import build_lstm_attention, load_model
from speechsense.training.hybrid.recipe import HybridRecipe
from speechsense.training.hybrid.train import run_speaker
from speechsense.training.loop import predict
from speechsense.training.onnx_export import check_parity, keras_to_onnx
from speechsense.training.presets import IMPROVED, IMPROVED_CONTRAST, PRESETS, STUDY, Preset


def test_member_zero_is_the_single_recipe_and_members_differ(tiny_data) -> None:
    data = tiny_data()
    single = replace(STUDY, augment=replace(STUDY.augment, copies_per_epoch=1))
    x0, _ = epoch_data(data, single, 3)
    np.testing.assert_array_equal(epoch_data(data, single, 3, member=0)[0], x0)
    assert not np.array_equal(epoch_data(data, single, 3, member=1)[0], x0)
    x3 = PRESETS["improved-contrast-x3"]
    assert x3.members == 3 and replace(x3, name=IMPROVED_CONTRAST.name).with_recipe(members=1) == IMPROVED_CONTRAST
    with pytest.raises(ValueError, match="members must be >= 1"):
        Preset(name="bad", recipe=HybridRecipe(members=0))


def test_combined_model_averages_members_and_exports_with_parity(tmp_path: Path, tiny_data) -> None:
    data = tiny_data()
    members = [build_lstm_attention(data.x_train.shape[1], data.x_train.shape[2]) for _ in range(2)]
    model = combine(members, data.x_train.shape[1], data.x_train.shape[2])
    expected = np.mean([np.asarray(m.predict_on_batch(data.x_val)) for m in members], axis=0)
    model.save(tmp_path / "ensemble.keras")
    again = load_model(tmp_path / "ensemble.keras")
    probs = np.asarray(again.predict_on_batch(data.x_val))
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    assert [layer.name for layer in again.layers][-1] == "probabilities"
    import onnxruntime as ort

    proto = keras_to_onnx(again, data.x_train.shape[1], data.x_train.shape[2])
    x = data.x_val.astype(np.float32)
    onnx_probs = ort.InferenceSession(proto.SerializeToString()).run(None, {"features": x})[0]
    assert check_parity(probs, onnx_probs).ok


@pytest.mark.slow
def test_ensemble_waits_for_every_member_then_combines(speaker_corpus: Path, tmp_path: Path) -> None:
    preset = replace(STUDY, name="tiny-x2", features=FeatureConfig(window_seconds=0.5),
                     augment=AugmentConfig()).with_recipe(model="lstm_attention", epochs=1, batch_size=8, members=2)
    runs, reports, cache = tmp_path / "runs", tmp_path / "reports", tmp_path / "cache"
    summary = run_speaker(preset, [0], None, runs, speaker_corpus, cache, 1, reports, members=[1])
    assert summary["folds_measured"] == [] and (runs / "fold0" / "member1" / "model.keras").is_file()
    assert not (runs / "fold0" / "metrics.json").exists()  # one member is not an ensemble
    summary = run_speaker(preset, [0], None, runs, speaker_corpus, cache, 1, reports)
    metrics = json.loads((runs / "fold0" / "metrics.json").read_text())
    assert summary["folds_measured"] == [0] and [m["member"] for m in metrics["members"]] == [0, 1]
    assert (reports / "fold0" / "member0" / "metrics.json").is_file()
    assert (reports / "fold0" / "metrics.json").is_file() and not (reports / "fold0" / "model.keras").exists()
    model = load_model(runs / "fold0" / "model.keras")
    assert [layer.name for layer in model.layers] == ["features", "member0", "member1", "probabilities"]


def test_mixture_members_are_their_recipes_each_seeded_from_zero() -> None:
    mix = PRESETS["improved-mix"]
    assert mix.member(0) == (IMPROVED_CONTRAST, 0) and mix.member(1) == (IMPROVED, 0)
    trio = mix.with_recipe(members=3, mixture=(IMPROVED, IMPROVED_CONTRAST, IMPROVED))
    assert [trio.member(k) for k in range(3)] == [(IMPROVED, 0), (IMPROVED_CONTRAST, 0), (IMPROVED, 1)]
    x3 = PRESETS["improved-contrast-x3"]
    assert x3.member(2) == (x3, 2)
    with pytest.raises(ValueError, match="out of range"):
        mix.member(2)
    with pytest.raises(ValueError, match="2 members but 1 recipes"):
        mix.with_recipe(mixture=(IMPROVED,))
    with pytest.raises(ValueError, match="seed 42"):
        mix.with_recipe(mixture=(IMPROVED_CONTRAST, replace(IMPROVED, seed=7)))
    with pytest.raises(ValueError, match="not a column subset"):  # the ensemble computes only its own columns
        replace(IMPROVED, name="bad-mix").with_recipe(members=2, mixture=(IMPROVED, IMPROVED_CONTRAST))


def _member_dir(path: Path, config: FeatureConfig, norm: Normalizer) -> Path:
    path.mkdir()
    (path / "feature_config.json").write_text(config.to_json())
    (path / "normalizer.json").write_text(norm.to_json())
    return path


def test_combined_model_feeds_each_member_its_columns_and_exports(tmp_path: Path) -> None:
    full, sub = FeatureConfig(deltas=True), FeatureConfig()  # 28 and 15 columns
    cols = full.columns_of(sub)
    rng = np.random.default_rng(1)
    raw = (rng.standard_normal((24, 31, full.n_features)) * rng.uniform(0.5, 20, full.n_features)
           + rng.uniform(-50, 50, full.n_features)).astype(np.float32)
    norm = Normalizer.fit(raw)
    own = Normalizer.fit(raw[:6, :, cols])  # the member's statistics differ from the ensemble's
    members = [build_lstm_attention(31, full.n_features), build_lstm_attention(31, sub.n_features)]
    adapters = [adapter_for(full, norm, _member_dir(tmp_path / "member0", full, norm)),
                adapter_for(full, norm, _member_dir(tmp_path / "member1", sub, own))]
    assert adapters[0] is None and adapters[1].columns == cols
    model = combine(members, 31, full.n_features, adapters)
    model.save(tmp_path / "mix.keras")
    again = load_model(tmp_path / "mix.keras")
    x = norm.apply(raw)
    expected = (np.asarray(members[0].predict_on_batch(x))
                + np.asarray(members[1].predict_on_batch(own.apply(raw[..., cols])))) / 2
    probs = np.asarray(again.predict_on_batch(x))
    np.testing.assert_allclose(probs, expected, atol=2e-5)
    import onnxruntime as ort

    proto = keras_to_onnx(again, 31, full.n_features)
    onnx_probs = ort.InferenceSession(proto.SerializeToString()).run(None, {"features": x})[0]
    assert check_parity(probs, onnx_probs).ok


@pytest.mark.slow
def test_mixture_trains_each_recipe_on_its_features_then_combines(speaker_corpus: Path, tmp_path: Path) -> None:
    base = replace(STUDY, name="tiny-deltas", features=FeatureConfig(window_seconds=0.5, deltas=True),
                   augment=AugmentConfig()).with_recipe(model="lstm_attention", epochs=1, batch_size=8)
    sub = replace(base, name="tiny-plain", features=FeatureConfig(window_seconds=0.5))
    mix = replace(base, name="tiny-mix").with_recipe(members=2, mixture=(base, sub))
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    run_speaker(mix, [0], None, runs, speaker_corpus, cache, 1, tmp_path / "reports")
    fold = runs / "fold0"
    assert json.loads((fold / "member1" / "preset.json").read_text())["name"] == "tiny-plain"
    assert FeatureConfig.from_json((fold / "member1" / "feature_config.json").read_text()) == sub.features
    metrics = json.loads((fold / "metrics.json").read_text())
    assert [m["preset"] for m in metrics["members"]] == ["tiny-deltas", "tiny-plain"]
    model = load_model(fold / "model.keras")
    assert "member1_columns" in [layer.name for layer in model.layers]
    members = [load_model(fold / f"member{k}" / "model.keras") for k in range(2)]
    x_mix = prepare_data(mix, "speaker", 0, speaker_corpus, cache, 1, augmented=False).x_test
    x_sub = prepare_data(sub, "speaker", 0, speaker_corpus, cache, 1, augmented=False).x_test
    expected = (predict(members[0], x_mix) + predict(members[1], x_sub)) / 2
    np.testing.assert_allclose(predict(model, x_mix), expected, atol=2e-5)
