"""The head input of an exported encoder model, per clip: what heads and calibration are measured on.

An encoder model file computes per-layer mean + std statistics of the frozen encoder and feeds them to
its head. Exposing that tensor as a graph output lets a new head be trained on exactly what the shipped
(int8) encoder produces, so the figures measured here are the shipped file's own. The statistics are
cached per (model file, clip list) as float32 .npz, filled in batches that resume after an interruption.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

from speechsense.audio import load_file
from speechsense.features import compute_features, prepare_window
from speechsense.modelmeta import HEAD_INPUT_KEY, ModelMetadata

log = logging.getLogger(__name__)
SAVE_EVERY = 256


def find_head_input(model) -> str:
    """Name of the statistics tensor in an encoder graph: the metadata's `head_input`, else the output of
    the layer-statistics stack that the head's standardisation subtracts from (files of 1.0.0)."""
    props = {p.key: p.value for p in model.metadata_props}
    if HEAD_INPUT_KEY in props:
        return props[HEAD_INPUT_KEY]
    for node in model.graph.node:
        if node.op_type == "Concat" and "layer_stats" in node.name and "stack" in node.name:
            return node.output[0]
    raise ValueError("no layer-statistics tensor in this graph: is it an encoder-family model?")


def prune_to(graph: onnx.GraphProto, keep_output: str) -> None:
    """Drop every node that keep_output does not depend on, and the initialisers nothing reads any more."""
    producers = {o: n for n in graph.node for o in n.output}
    needed, front = set(), [keep_output]
    while front:
        name = front.pop()
        node = producers.get(name)
        if node is None or id(node) in needed:
            continue
        needed.add(id(node))
        front.extend(node.input)
    kept = [n for n in graph.node if id(n) in needed]
    del graph.node[:]
    graph.node.extend(kept)
    used = {i for n in kept for i in n.input}
    inits = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def stats_session(model_path: Path, threads: int = 2):
    """An ONNX Runtime session of the model file whose only output is the head input (batch, layers, 2 x dim)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(model_path))
    name = find_head_input(model)
    del model.graph.output[:]
    model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    prune_to(model.graph, name)
    del model.graph.input[1:]  # a calibrated file's baseline inputs: the statistics do not read them
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def model_meta(model_path: Path) -> ModelMetadata:
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    return ModelMetadata.from_props({p.key: p.value for p in model.metadata_props}, source=str(model_path))


class HeadStats:
    """Head-input statistics of one model file for clip paths, cached under root."""

    def __init__(self, model_path: Path, root: Path, threads: int = 2, batch: int = 16, variant=None) -> None:
        """variant: a transform applied to each clip first (an augment.Variant or a conditions.Condition: key()
        and apply(samples, path, rate)); None for the clip itself."""
        self.model_path, self.variant = Path(model_path), variant
        digest = hashlib.sha256(self.model_path.read_bytes()).hexdigest()[:16]
        suffix = "" if variant is None else "-" + hashlib.sha256(variant.key().encode()).hexdigest()[:12]
        self.file = Path(root) / f"headstats-{digest}{suffix}.npz"
        self.config = model_meta(self.model_path).feature_config
        self.threads, self.batch = threads, batch
        self._session = None

    def _load(self) -> dict[str, np.ndarray]:
        if not self.file.exists():
            return {}
        with np.load(self.file, allow_pickle=False) as data:
            return dict(zip(data["paths"].tolist(), data["stats"], strict=True))

    def _save(self, table: dict[str, np.ndarray]) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        paths = sorted(table)
        tmp = self.file.with_suffix(".tmp.npz")
        np.savez(tmp, paths=np.array(paths), stats=np.stack([table[p] for p in paths]))
        tmp.replace(self.file)

    def encode(self, windows: np.ndarray) -> np.ndarray:
        """Prepared windows (n, samples) -> head input (n, layers, 2 x dim), float32."""
        if self._session is None:
            self._session = stats_session(self.model_path, self.threads)
        first = self._session.get_inputs()[0]
        # A waveform file computes its features in the graph (export/waveform.py).
        feats = windows.astype(np.float32) if len(first.shape) == 2 else compute_features(windows, self.config)
        return np.concatenate([self._session.run(None, {first.name: feats[i:i + self.batch]})[0]
                               for i in range(0, len(feats), self.batch)])

    def _audio(self, path: str) -> np.ndarray:
        samples = load_file(path, self.config.sample_rate)
        if self.variant is None:
            return samples
        return self.variant.apply(samples, path, self.config.sample_rate)

    def get(self, paths: list[str]) -> np.ndarray:
        """(n, layers, 2 x dim) for paths (one prepared window per clip), computing what is missing."""
        table = self._load()
        todo = [p for p in dict.fromkeys(paths) if p not in table]
        t0 = time.time()
        for start in range(0, len(todo), self.batch):
            chunk = todo[start:start + self.batch]
            windows = np.stack([prepare_window(self._audio(p), self.config) for p in chunk])
            for p, s in zip(chunk, self.encode(windows), strict=True):
                table[p] = s.astype(np.float32)
            done = start + len(chunk)
            if done % SAVE_EVERY < self.batch or done == len(todo):
                self._save(table)
                log.info("head input of %s: %d/%d clips, %.1f clips/s", self.model_path.name, done, len(todo),
                         done / (time.time() - t0))
        return np.stack([table[p] for p in paths]) if paths else np.zeros((0,), np.float32)
