"""The scoring engine on its own: windows of many callers featurised and scored in shared batches, with
each window's result what it would be alone, and failures and cancellations kept to their windows."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from synth import speech_like

from speechsense.features import window_features
from speechsense.server.engine import Engine, reduce_noise


def reference(engine: Engine, window: np.ndarray) -> np.ndarray:
    """One window scored on its own, the way the per-window engine did it."""
    meta = engine.model.meta
    return engine.model.predict(meta.normalizer.apply(window_features(window, meta.feature_config))[None])[0]


def windows(n: int) -> list[np.ndarray]:
    return [speech_like(3.0, seed=s) for s in range(n)]


class Recorder:
    """Wraps an engine stage to record the size of each batch it is given (and optionally fail)."""

    def __init__(self, fn, fail: Exception | None = None) -> None:
        self.fn, self.fail, self.sizes = fn, fail, []

    def __call__(self, arrays):
        self.sizes.append(len(arrays))
        if self.fail is not None:
            raise self.fail
        return self.fn(arrays)


async def queued(engine: Engine, audio: list[np.ndarray], gate: bool = True) -> list[asyncio.Task]:
    """score() tasks for audio, returned once every speech window waits in the feature queue (the
    engine not started yet), so that the first batch is known to hold them all."""
    tasks = [asyncio.create_task(engine.score(a, a.size, gate=gate)) for a in audio]
    while engine._prepared.qsize() < len(audio):
        await asyncio.sleep(0.005)
    return tasks


async def settled(tasks: list[asyncio.Task]) -> list:
    """Each task's result or exception; a hang (a window nobody answers) fails after a minute."""
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)


def test_windows_of_many_callers_share_batches_and_score_as_alone(engine_factory):
    async def run():
        engine = engine_factory(max_batch=8)
        features, predict = Recorder(engine._features_of), Recorder(engine._predict)
        engine._features_of, engine._predict = features, predict
        try:
            audio = windows(20)
            tasks = await queued(engine, audio)
            engine.start()
            scored = await settled(tasks)
        finally:
            await engine.close()
        return engine, audio, scored, features.sizes, predict.sizes

    engine, audio, scored, feature_sizes, predict_sizes = asyncio.run(run())
    assert feature_sizes[:2] == [8, 8] and sum(feature_sizes) == 20  # queued windows: full batches
    assert sum(predict_sizes) == 20 and max(predict_sizes) <= 8
    for a, s in zip(audio, scored, strict=True):
        np.testing.assert_allclose(s.probabilities, reference(engine, a), atol=1e-5)


@pytest.mark.parametrize("stage", ["_features_of", "_predict"])
def test_a_failing_batch_fails_each_of_its_windows_and_the_engine_keeps_serving(engine_factory, stage):
    async def run():
        engine = engine_factory()
        original = getattr(engine, stage)
        recorder = Recorder(original, fail=RuntimeError("stage broke"))
        setattr(engine, stage, recorder)
        try:
            tasks = await queued(engine, windows(5))
            engine.start()
            outcomes = await settled(tasks)
            recorder.fail = None
            again = await engine.score(speech_like(3.0, seed=9), 48_000)
        finally:
            await engine.close()
        return outcomes, again, recorder.sizes

    outcomes, again, sizes = asyncio.run(run())
    assert sizes[0] == 5
    assert all(isinstance(o, RuntimeError) and str(o) == "stage broke" for o in outcomes)
    assert again.is_speech and again.probabilities.sum() == pytest.approx(1, abs=1e-4)


def test_windows_of_cancelled_callers_are_not_computed(engine_factory):
    async def run():
        engine = engine_factory()
        features = Recorder(engine._features_of)
        engine._features_of = features
        try:
            tasks = await queued(engine, windows(6))
            for t in tasks[:2]:
                t.cancel()
            engine.start()
            outcomes = await settled(tasks)
        finally:
            await engine.close()
        return outcomes, features.sizes

    outcomes, sizes = asyncio.run(run())
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes[:2])
    assert all(o.is_speech for o in outcomes[2:]) and sizes == [4]


def test_gate_noise_reduction_and_close(engine_factory):
    silence = np.zeros(48_000, np.float32)
    audio = speech_like(3.0, seed=3)

    async def run():
        plain, denoised = engine_factory(), engine_factory(noise_reduction=True)
        try:
            plain.start(), denoised.start()
            gated = await plain.score(silence, silence.size)
            ungated = await plain.score(silence, silence.size, gate=False)
            cleaned = await denoised.score(audio, audio.size)
        finally:
            await plain.close(), await denoised.close()
        return gated, ungated, cleaned, plain

    async def stranded_then_closed():
        engine = engine_factory()  # never started: close() must still release the windows it holds
        tasks = await queued(engine, [audio])
        await engine.close()
        return await settled(tasks)

    gated, ungated, cleaned, plain = asyncio.run(run())
    assert not gated.is_speech and ungated.is_speech  # gate=False: no VAD (utterance windows)
    np.testing.assert_allclose(cleaned.probabilities, reference(plain, reduce_noise(audio, 16_000)), atol=1e-5)
    assert isinstance(asyncio.run(stranded_then_closed())[0], asyncio.CancelledError)


@pytest.mark.parametrize("ratio, expected", [(-1.0, "all"), (1e9, 1)])
def test_auto_threads_follow_the_cost_ratio_and_keep_the_scores(engine_factory, monkeypatch, ratio, expected):
    import os

    from speechsense.server import engine as engine_module

    monkeypatch.setattr(engine_module, "AUTO_THREADS_RATIO", ratio)
    engine = engine_factory(intra_op_threads=0)
    window = windows(1)[0]
    before = reference(engine, window)
    engine.warm_up()
    assert engine.model.intra_op_threads == ((os.cpu_count() or 1) if expected == "all" else 1)
    np.testing.assert_allclose(reference(engine, window), before, atol=1e-6)


def test_explicit_threads_are_kept(engine_factory, monkeypatch):
    from speechsense.server import engine as engine_module

    monkeypatch.setattr(engine_module, "AUTO_THREADS_RATIO", -1.0)
    engine = engine_factory(intra_op_threads=1)
    engine.warm_up()
    assert engine.model.intra_op_threads == 1


def test_negative_threads_are_refused():
    from speechsense.server.config import EngineOptions, OptionsError

    with pytest.raises(OptionsError, match="intra_op_threads"):
        EngineOptions(intra_op_threads=-1)


def test_two_feature_threads_score_every_window_as_alone(engine_factory):
    async def run():
        engine = engine_factory(max_batch=4, feature_threads=2)
        try:
            audio = windows(12)
            tasks = await queued(engine, audio)
            engine.start()
            results = await settled(tasks)
            for a, r in zip(audio, results, strict=True):
                np.testing.assert_allclose(r.probabilities, reference(engine, a), atol=1e-5)
            assert len([t for t in engine._tasks if "feature-batcher" in t.get_name()]) == 2
        finally:
            await engine.close()

    asyncio.run(run())


def test_gate_options_reach_the_engines_detector(engine_factory):
    engine = engine_factory(gate="absolute", gate_margin_db=9.0, gate_periodic_frames=5, gate_periodicity=0.7)
    d = engine.detector
    assert (d.gate, d.margin_db, d.min_periodic_frames, d.periodicity) == ("absolute", 9.0, 5, 0.7)
