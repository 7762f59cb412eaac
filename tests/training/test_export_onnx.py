"""Export of a tiny trained hybrid: ORT loads it, metadata round-trips, parity holds, bad metadata is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from speechsense.audio import load_file
from speechsense.features import FeatureConfig, Normalizer, window_features
from speechsense.modelmeta import ModelMetadata, ModelMetadataError
from speechsense.training.hybrid.models import build_hybrid
from speechsense.training.keras_export import export
from speechsense.training.onnx_export import (
    INPUT_NAME,
    OUTPUT_NAME,
    Parity,
    check_parity,
    read_metadata,
    run_onnx,
    session,
)

CONFIG = FeatureConfig(window_seconds=0.5)
METRICS = {"random": {"accuracy": 0.5, "uar": 0.5}, "speaker": {"uar_mean": 0.4, "uar_std": 0.05,
                                                                 "accuracy_mean": 0.45}}


def windows(paths: list[Path] | None, tone) -> np.ndarray:
    """Feature windows of real clips when the corpora are there, else of synthetic tones."""
    if paths:
        audio = [load_file(p, CONFIG.sample_rate) for p in paths[:24]]
    else:
        audio = [tone(16_000, 0.5, 120 + 25 * i, i) for i in range(24)]
    return np.stack([window_features(a, CONFIG) for a in audio])


@pytest.fixture(scope="module")
def exported(tmp_path_factory, request) -> tuple[Path, np.ndarray, ModelMetadata]:
    try:
        real = request.getfixturevalue("real_clips")
    except pytest.skip.Exception:
        real = None
    raw = windows(real, request.getfixturevalue("tone"))
    norm = Normalizer.fit(raw)
    x = norm.apply(raw)
    y = np.arange(len(x)) % 8
    model = build_hybrid(CONFIG.frames, CONFIG.n_features)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    for _ in range(5):  # a few steps, so outputs are not uniform
        model.train_on_batch(x, y)
    meta = ModelMetadata(("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"),
                         CONFIG, norm, "tiny", "0.0.1", "test", "synthetic", "random", METRICS, 0.25)
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export(model, meta, out, x)
    return out, x, meta


def test_onnx_runtime_loads_with_named_dynamic_io(exported) -> None:
    out, x, _ = exported
    sess = session(out)
    assert [i.name for i in sess.get_inputs()] == [INPUT_NAME]
    assert [o.name for o in sess.get_outputs()] == [OUTPUT_NAME]
    assert sess.get_inputs()[0].shape[1:] == [CONFIG.frames, CONFIG.n_features]
    probs = run_onnx(sess, x[:3])
    assert probs.shape == (3, 8) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert "LSTM" in {n.op_type for n in onnx.load(str(out)).graph.node}


def test_metadata_round_trips(exported) -> None:
    out, _, meta = exported
    back = read_metadata(out)
    assert back.labels == meta.labels and back.feature_config == CONFIG
    np.testing.assert_array_equal(back.normalizer.mean, meta.normalizer.mean)
    assert back.metrics == METRICS and back.default_hop_seconds == 0.25 and back.model_name == "tiny"


def test_parity_holds_and_failure_is_detected(exported) -> None:
    out, x, _ = exported
    import keras  # noqa: F401  (the Keras side is checked inside export(); here the checker itself)

    probs = run_onnx(session(out), x)
    assert check_parity(probs, probs).ok
    worse = probs.copy()
    worse[0] = worse[0][::-1]
    bad = check_parity(probs, worse)
    assert isinstance(bad, Parity) and not bad.ok


def _rewrite(src: Path, dst: Path, edit) -> Path:
    proto = onnx.load(str(src))
    props = {p.key: p.value for p in proto.metadata_props}
    edit(props)
    del proto.metadata_props[:]
    for k, v in props.items():
        e = proto.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(proto, str(dst))
    return dst


def test_missing_metadata_is_refused(exported, tmp_path: Path) -> None:
    out, _, _ = exported
    bare = _rewrite(out, tmp_path / "bare.onnx", lambda p: p.clear())
    with pytest.raises(ModelMetadataError, match="missing .*labels"):
        read_metadata(bare)
    no_metrics = _rewrite(out, tmp_path / "nometrics.onnx", lambda p: p.pop("metrics"))
    with pytest.raises(ModelMetadataError, match="missing metrics"):
        read_metadata(no_metrics)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("metrics", '{"random": {"accuracy": 95.0, "uar": 0.9}}', "metrics.random.accuracy"),
    ("normalizer", "not json", "invalid metadata"),
    ("labels", '["neutral", "bored"]', "labels"),
])
def test_corrupt_metadata_is_refused(exported, tmp_path: Path, key: str, value: str, message: str) -> None:
    out, _, _ = exported
    bad = _rewrite(out, tmp_path / "bad.onnx", lambda p: p.__setitem__(key, value))
    with pytest.raises(ModelMetadataError, match=message):
        read_metadata(bad)
