"""Ensemble presets: members train with their own seeds, combine only when all are finished, export to ONNX."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from speechsense.export.onnx_export import check_parity, keras_to_onnx
from speechsense.features import FeatureConfig
from speechsense.training.augment import AugmentConfig
from speechsense.training.ensemble import combine
from speechsense.training.models import build_lstm_attention, load_model
from speechsense.training.presets import IMPROVED_CONTRAST, PRESETS, STUDY, Preset
from speechsense.training.train import epoch_data, run_speaker


def test_member_zero_is_the_single_recipe_and_members_differ(tiny_data) -> None:
    data = tiny_data()
    single = replace(STUDY, augment=replace(STUDY.augment, copies_per_epoch=1))
    x0, _ = epoch_data(data, single, 3)
    np.testing.assert_array_equal(epoch_data(data, single, 3, member=0)[0], x0)
    assert not np.array_equal(epoch_data(data, single, 3, member=1)[0], x0)
    x3 = PRESETS["improved-contrast-x3"]
    assert x3.members == 3 and replace(x3, name=IMPROVED_CONTRAST.name, description="", members=1) == \
        replace(IMPROVED_CONTRAST, description="")
    with pytest.raises(ValueError, match="members must be >= 1"):
        Preset(name="bad", description="", members=0)


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
    preset = replace(STUDY, name="tiny-x2", model="lstm_attention", features=FeatureConfig(window_seconds=0.5),
                     epochs=1, batch_size=8, augment=AugmentConfig(), members=2)
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
