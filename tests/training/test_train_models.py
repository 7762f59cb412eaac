"""Named model I/O, a tiny hybrid trains a step and reloads, training resumes, augmentation stays in train."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest

from speechsense.features import FeatureConfig
from speechsense.training.augment import AugmentConfig, Variant, clip_rng
from speechsense.training.corpora import load_manifest
from speechsense.training.data import epoch_data, prepare_data
from speechsense.training.featstore import FeatureStore, cache_key
from speechsense.training.hybrid.models import BUILDERS, AdditiveAttention, build_hybrid, build_lstm_attention
from speechsense.training.loop import Checkpoint, fit, lr_at
from speechsense.training.presets import IMPROVED, STUDY

FRAMES, FEATS = 31, 15


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_models_have_named_input_and_output(name: str) -> None:
    model = BUILDERS[name](FRAMES, FEATS)
    assert model.inputs[0].name == "features" and tuple(model.input_shape) == (None, FRAMES, FEATS)
    assert model.layers[-1].name == "probabilities" and model.output_shape == (None, 8)
    assert model.get_layer("logits").activation.__name__ == "linear"


def test_tiny_hybrid_trains_a_step_and_reloads_with_attention(tmp_path: Path, tiny_data) -> None:
    model = build_hybrid(FRAMES, FEATS)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    data = tiny_data()
    loss = model.train_on_batch(data.x_train, data.y_train)
    assert np.isfinite(loss)
    assert tuple(model.get_layer("attention").b.shape) == (FRAMES, 1)  # per-timestep bias
    model.save(tmp_path / "tiny.keras")
    again = keras.saving.load_model(tmp_path / "tiny.keras")
    assert isinstance(again.get_layer("attention"), AdditiveAttention)
    np.testing.assert_allclose(again.predict_on_batch(data.x_val), model.predict_on_batch(data.x_val), atol=1e-6)


def test_training_resumes_from_checkpoint(tmp_path: Path, tiny_data) -> None:
    preset = replace(IMPROVED, augment=replace(IMPROVED.augment, copies_per_epoch=1)).with_recipe(batch_size=16)
    data = tiny_data()

    def build():  # the smaller attention-LSTM keeps this test quick; checkpointing is model-agnostic
        model = build_lstm_attention(FRAMES, FEATS)
        model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    ckpt = Checkpoint(tmp_path)
    fit(ckpt.load_model(build), data, preset, 1, ckpt)
    resumed = Checkpoint(tmp_path)
    assert resumed.state["epochs_done"] == 1 and (tmp_path / "checkpoint" / "last.keras").exists()
    fit(resumed.load_model(build), data, preset, 2, resumed)
    assert [h["epoch"] for h in Checkpoint(tmp_path).state["history"]] == [1, 2]


def test_epoch_data_draws_distinct_copies_and_schedule(tiny_data) -> None:
    data = tiny_data(copies=4)
    preset = replace(IMPROVED, augment=AugmentConfig(noise_copies=4, copies_per_epoch=2))
    x, y = epoch_data(data, preset, 0)
    assert len(x) == 3 * 32 and np.array_equal(y, np.tile(data.y_train, 3))
    assert not np.array_equal(x[32:64], x[64:96])
    x_study, _ = epoch_data(data, STUDY, 0)
    assert len(x_study) == 5 * 32  # study: every copy every epoch
    assert lr_at(STUDY, 50, 130) == 0.01
    assert lr_at(IMPROVED, 0, 60) < lr_at(IMPROVED, 2, 60) and lr_at(IMPROVED, 59, 60) < 1e-4


def test_augmented_copies_only_for_training_clips(speaker_corpus: Path, tmp_path: Path) -> None:
    preset = replace(STUDY, features=FeatureConfig(window_seconds=0.5),
                     augment=AugmentConfig(noise_copies=1, snr_db=(15.0, 30.0)))
    data = prepare_data(preset, "speaker", 0, speaker_corpus, tmp_path / "cache", workers=1)
    assert data.aug is not None and data.aug.shape[:2] == (1, len(data.split.train))
    variant = preset.augment.variants()[0]
    with np.load(tmp_path / "cache" / "features" / f"{cache_key(preset.features, variant)}.npz") as f:
        augmented = set(f["paths"].tolist())
    store = FeatureStore(tmp_path / "cache" / "features", preset.features, 1)
    clean = store.get(sorted(augmented), Variant())
    assert len(augmented) == len(data.split.train) == 16  # 14 training actors + 2 TESS clips
    assert all("Actor" in p or "/tess/" in p for p in augmented)
    assert not np.allclose(clean, store.get(sorted(augmented), variant))
    held_out = set(data.split.val) | set(data.split.test)
    assert len(held_out) == 6 and not (held_out & set(data.split.train))


def test_prepared_arrays_are_the_cached_features_standardised(speaker_corpus: Path, tmp_path: Path) -> None:
    # prepare_data standardises in place and frees each cache table as it goes: same numbers as the plain way.
    preset = replace(STUDY, features=FeatureConfig(window_seconds=0.5),
                     augment=AugmentConfig(noise_copies=2, snr_db=(15.0, 30.0)))
    data = prepare_data(preset, "speaker", 1, speaker_corpus, tmp_path / "cache", workers=1)
    clips = load_manifest(speaker_corpus, tmp_path / "cache" / "manifest.json").clips
    train, test = ([clips[i].path for i in part] for part in (data.split.train, data.split.test))
    store = FeatureStore(tmp_path / "cache" / "features", preset.features, 1)
    raw = store.get(train, Variant())
    assert np.allclose(data.normalizer.mean, raw.reshape(-1, raw.shape[-1]).mean(0), atol=1e-5)
    assert np.array_equal(data.x_train, data.normalizer.apply(raw))
    assert np.array_equal(data.x_test, data.normalizer.apply(store.get(test, Variant())))
    for k, variant in enumerate(preset.augment.variants()):
        cached = store.get(train, variant)
        store.forget(variant)  # a forgotten table is read back from disk unchanged
        assert np.array_equal(store.get(train, variant), cached)
        assert np.array_equal(data.aug[k], data.normalizer.apply(cached))


def test_stores_side_by_side_keep_each_others_clips(speaker_corpus: Path, tmp_path: Path) -> None:
    clips = sorted(str(p) for p in speaker_corpus.rglob("*.flac"))[:4]
    config = FeatureConfig(window_seconds=0.5)
    first, second = (FeatureStore(tmp_path / "features", config, 1) for _ in range(2))
    first.get(clips[:1], Variant())  # each store then keeps its own table in memory and saves it
    second.get(clips[1:2], Variant())
    first.get(clips[2:3], Variant())
    second.get(clips[3:], Variant())
    with np.load(tmp_path / "features" / f"{cache_key(config, Variant())}.npz") as f:
        assert sorted(f["paths"].tolist()) == clips


def test_copies_do_not_depend_on_the_split() -> None:
    v = Variant("noise", 0)
    a = clip_rng("/x/tess/OAF_angry/OAF_back_angry.flac", v).random()
    b = clip_rng("/elsewhere/tess/OAF_angry/OAF_back_angry.flac", v).random()
    assert a == b and a != clip_rng("/x/tess/OAF_angry/OAF_back_angry.flac", Variant("noise", 1)).random()


@pytest.mark.slow
def test_speaker_run_writes_reports_and_a_rerun_only_republishes(speaker_corpus: Path, tmp_path: Path) -> None:
    from speechsense.training.hybrid.train import run_speaker

    preset = replace(STUDY, features=FeatureConfig(window_seconds=0.5), augment=AugmentConfig()).with_recipe(
        model="lstm_attention", epochs=1, batch_size=8)
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    summary = run_speaker(preset, [0], None, runs, speaker_corpus, tmp_path / "cache", 1, reports)
    assert summary["folds_measured"] == [0] and summary["complete"] is False
    for name in ("metrics.json", "curves.png", "confusion_test.png"):
        assert (reports / "fold0" / name).is_file()
    assert json.loads((reports / "summary.json").read_text())["uar_mean"] == summary["uar_mean"]
    assert not (reports / "fold0" / "model.keras").exists()  # models stay in the run folder, out of git
    (reports / "fold0" / "metrics.json").unlink()
    stamp = (runs / "fold0" / "model.keras").stat().st_mtime_ns
    run_speaker(preset, [0], None, runs, speaker_corpus, tmp_path / "cache", 1, reports)
    assert (reports / "fold0" / "metrics.json").is_file()
    assert (runs / "fold0" / "model.keras").stat().st_mtime_ns == stamp  # finished folds are not retrained


def test_refit_repeats_the_random_runs_schedule_and_stops_at_its_kept_epoch(tmp_path: Path) -> None:
    from speechsense.training.hybrid.refit import refit_plan

    assert refit_plan(IMPROVED, "random", None, None) == (IMPROVED, IMPROVED.recipe.epochs, None)
    with pytest.raises(ValueError, match="train --protocol random first"):
        refit_plan(IMPROVED, "random-full", None, tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps({"preset": "improved", "kept": "best", "best_epoch": 7,
                                                       "epochs_run": 22, "max_epochs": 40}))
    recipe, schedule, stop = refit_plan(IMPROVED, "random-full", 12, tmp_path)
    assert (schedule, stop) == (40, 7) and recipe.recipe.early_stopping is False
    with pytest.raises(ValueError, match="not 'study'"):
        refit_plan(STUDY, "random-full", None, tmp_path)


@pytest.mark.slow
def test_refit_trains_on_train_and_val_to_the_kept_epoch(random_corpus: Path, tmp_path: Path) -> None:
    from speechsense.training.hybrid.train import run

    preset = replace(STUDY, features=FeatureConfig(window_seconds=0.5), augment=AugmentConfig()).with_recipe(
        model="lstm_attention", epochs=3, batch_size=8, schedule="cosine")
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    chosen = run(preset, "random", 0, None, runs / "random", random_corpus, cache, 1)
    # As if early stopping had kept epoch 2 of the 3-epoch schedule.
    (runs / "random" / "metrics.json").write_text(json.dumps(chosen | {"kept": "best", "best_epoch": 2}))
    refit = run(preset, "random-full", 0, None, runs / "full", random_corpus, cache, 1, refit_from=runs / "random")
    assert refit["epochs_run"] == 2 and refit["max_epochs"] == 3 and refit["kept"] == "last"
    assert [round(h["lr"], 6) for h in refit["history"]] == [round(lr_at(preset, e, 3), 6) for e in range(2)]
    assert refit["val_in_training"] and not chosen["val_in_training"]
    assert refit["split"]["n_train"] == chosen["split"]["n_train"] + chosen["split"]["n_val"]
    assert refit["split"]["n_test"] == chosen["split"]["n_test"]
