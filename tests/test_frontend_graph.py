"""The front-end inside the ONNX graph against the Python front-end (the reference), and waveform files served.

export/frontend_graph.py must compute speechsense.features' values within FEATURE_TOLERANCE of each feature's
range, for every feature kind; export/waveform.py must keep the source model's probabilities; the server must
score a waveform file as it scores the feature file it came from.
"""

from __future__ import annotations

import dataclasses

import grpc
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from synth import speech_like, syllables, tiny_model

from speechsense.export.frontend_graph import frontend_model
from speechsense.export.waveform import FEATURE_TOLERANCE, WaveformExportError, check_parity, metadata_of, to_waveform
from speechsense.features import FeatureConfig, Normalizer, compute_features, prepare_window
from speechsense.server.config import EngineOptions
from speechsense.server.model import EmotionModel, ModelLoadError
from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc

CONFIGS = {
    "hybrid-shipped": FeatureConfig(n_mfcc=40, n_mels=40, deltas=True, contrast_bands=5),
    "study-mfcc13": FeatureConfig(),
    "whisper": FeatureConfig.whisper(),
}


def _windows(config: FeatureConfig) -> np.ndarray:
    """Prepared windows of synthetic speech at several levels, plus silence and a clipped one."""
    rng = np.random.default_rng(3)
    clips = [speech_like(3.5, seed=1), syllables(2.0), 0.01 * speech_like(3.0, seed=2),
             np.clip(4 * speech_like(3.0, seed=4), -1, 1), 0.05 * rng.standard_normal(48_000).astype(np.float32)]
    windows = [prepare_window(c, config) for c in clips]
    return np.stack([*windows, np.zeros(config.window_samples, np.float32)])


def _normalizer(config: FeatureConfig, windows: np.ndarray) -> Normalizer:
    return Normalizer.fit(compute_features(windows, config))


def _graph_features(config: FeatureConfig, normalizer: Normalizer, windows: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(frontend_model(config, normalizer).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {"waveform": windows})[0]


def _assert_close(config: FeatureConfig, normalizer: Normalizer, windows: np.ndarray) -> None:
    reference = normalizer.apply(compute_features(windows, config))
    got = _graph_features(config, normalizer, windows)
    assert got.shape == reference.shape == (len(windows), config.frames, config.n_features)
    span = np.maximum(reference.max(axis=(0, 1)) - reference.min(axis=(0, 1)), 1e-3)
    worst = np.abs(got - reference).max(axis=(0, 1)) / span
    names = config.column_names()
    assert worst.max() <= FEATURE_TOLERANCE, f"{names[int(worst.argmax())]} off by {worst.max():.2e} of its range"


@pytest.mark.parametrize("name", CONFIGS)
def test_the_graph_front_end_computes_the_python_features(name):
    config = CONFIGS[name]
    windows = _windows(config)
    _assert_close(config, _normalizer(config, windows), windows)


def test_the_graph_front_end_matches_on_real_speech(datasets):
    from speechsense.audio import load_file

    files = sorted((datasets / "ravdess").rglob("*.flac"))[::60][:20]
    files += sorted((datasets / "tess").rglob("*.flac"))[::140][:20]
    for config in CONFIGS.values():
        windows = np.stack([prepare_window(load_file(f, config.sample_rate), config) for f in files])
        _assert_close(config, _normalizer(config, windows), windows)


@pytest.fixture(scope="module")
def feature_and_waveform(tmp_path_factory):
    """The tiny feature-input model (hybrid-style features) and its waveform re-export."""
    folder = tmp_path_factory.mktemp("waveform")
    source = tiny_model(folder / "features.onnx", CONFIGS["hybrid-shipped"], seed=5)
    wrapped = to_waveform(onnx.load(str(source)), "0.1.0")
    onnx.save(wrapped, str(folder / "waveform.onnx"))
    return source, folder / "waveform.onnx"


def test_a_waveform_file_keeps_the_source_probabilities(feature_and_waveform):
    source, waveform = feature_and_waveform
    meta = metadata_of(onnx.load(str(waveform)))
    assert meta.model_input == "waveform" and meta.model_version == "0.1.0"
    windows = _windows(meta.feature_config)
    report = check_parity(onnx.load(str(source)), onnx.load(str(waveform)),
                          {"synthetic": (windows, np.zeros(len(windows), int))})
    assert report["argmax_changes"] == 0 and report["probability_max_abs_diff"] < 1e-4
    with pytest.raises(WaveformExportError, match="already takes a waveform"):
        to_waveform(onnx.load(str(waveform)), "0.2.0")


def test_the_server_model_feeds_each_kind_its_own_input(feature_and_waveform):
    source, waveform = feature_and_waveform
    old, new = EmotionModel(source, EngineOptions()), EmotionModel(waveform, EngineOptions())
    assert not old.takes_waveform and new.takes_waveform
    windows = _windows(new.meta.feature_config)
    np.testing.assert_allclose(new.predict(new.inputs_of(windows)), old.predict(old.inputs_of(windows)), atol=1e-5)


def test_a_waveform_graph_with_feature_metadata_is_refused_naming_the_export_command(feature_and_waveform, tmp_path):
    model = onnx.load(str(feature_and_waveform[1]))
    for prop in model.metadata_props:
        if prop.key == "model_input":
            prop.value = "features"
    onnx.save(model, str(tmp_path / "mislabelled.onnx"))
    with pytest.raises(ModelLoadError, match="speechsense-export waveform"):
        EmotionModel(tmp_path / "mislabelled.onnx", EngineOptions())


def _analyze(address: str, clip: np.ndarray) -> list[list[float]]:
    pcm = (np.clip(clip, -1, 1) * 32767).astype("<i2").tobytes()
    request = pb.AnalyzeClipRequest(raw=pb.RawAudio(
        format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=16_000), data=pcm))
    with grpc.insecure_channel(address) as channel:
        reply = emotion_pb2_grpc.EmotionServiceStub(channel).AnalyzeClip(request)
    return [[s.score for s in w.scores] for w in reply.windows]


def test_a_server_scores_a_waveform_file_as_the_feature_file(feature_and_waveform, server_factory, base_options):
    clip = speech_like(6.0, seed=7)
    got = []
    for path in feature_and_waveform:
        engine = dataclasses.replace(base_options.engine, max_batch=4)
        got.append(_analyze(server_factory(model_path=path, engine=engine).address, clip))
    assert got[0] and len(got[0]) == len(got[1])
    np.testing.assert_allclose(got[1], got[0], atol=1e-4)
