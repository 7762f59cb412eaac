"""On-disk feature cache: one .npz per (FeatureConfig, variant), filled on demand by worker processes.

The cache key hashes the feature config and the variant's augmentation settings, so a
second run reuses what the first computed and a changed setting never reads stale data.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import multiprocessing
from collections.abc import Collection
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from speechsense.audio import load_file
from speechsense.features import FeatureConfig, window_features
from speechsense.frontend import limit_blas_threads
from speechsense.training.augment import Variant, apply_variant

log = logging.getLogger(__name__)


def cache_key(config: FeatureConfig, variant: Variant) -> str:
    """Hash of everything that determines the features of a variant."""
    return hashlib.sha256((config.to_json() + "|" + variant.key()).encode()).hexdigest()[:16]


def _clip_features(task: tuple[str, str, list[Variant]]) -> list[np.ndarray]:
    """Worker: load one clip once and compute the features of each requested variant."""
    path, config_json, variants = task
    config = FeatureConfig.from_json(config_json)
    samples = load_file(path, config.sample_rate)
    return [window_features(apply_variant(samples, path, v, config.sample_rate), config) for v in variants]


def _signature(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def _warm_up() -> None:
    """Worker start: compile librosa's numba kernels once per process."""
    window_features(np.zeros(16_000, dtype=np.float32), FeatureConfig())


def _worker_start() -> None:
    """Worker processes run side by side, one per core: BLAS threads of their own only contend."""
    limit_blas_threads()
    _warm_up()


class FeatureStore:
    """Features per clip path for any variant, cached under root."""

    def __init__(self, root: Path, config: FeatureConfig, workers: int = 2) -> None:
        self.root = Path(root)
        self.config = config
        self.workers = workers
        self._mem: dict[str, dict[str, np.ndarray]] = {}
        # Each save replaces the file, so (inode, mtime) tells whether another run saved since we last did.
        self._seen: dict[str, tuple[int, int]] = {}

    def _file(self, variant: Variant) -> Path:
        return self.root / f"{cache_key(self.config, variant)}.npz"

    def _load(self, variant: Variant) -> dict[str, np.ndarray]:
        key = cache_key(self.config, variant)
        if key not in self._mem:
            f = self._file(variant)
            table: dict[str, np.ndarray] = {}
            if f.exists():
                self._seen[key] = _signature(f)
                with np.load(f, allow_pickle=False) as data:
                    table = dict(zip(data["paths"].tolist(), data["features"], strict=True))
            self._mem[key] = table
        return self._mem[key]

    def _known(self, variant: Variant) -> Collection[str]:
        """The clip paths a variant's table holds, reading only the path list when it is not loaded."""
        key = cache_key(self.config, variant)
        if key in self._mem:
            return self._mem[key].keys()
        f = self._file(variant)
        if not f.exists():
            return set()
        with np.load(f, allow_pickle=False) as data:  # .npz members load lazily: features stay on disk
            return set(data["paths"].tolist())

    def _save(self, variant: Variant) -> None:
        """Write the table atomically, first merging what another run saved since we loaded it: runs of
        one feature config side by side would otherwise each overwrite the other's clips."""
        table = self._load(variant)
        self.root.mkdir(parents=True, exist_ok=True)
        file, key = self._file(variant), cache_key(self.config, variant)
        with open(file.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            # Read back only what changed since we last saw it (usually nothing: no 400 MB re-read).
            if file.exists() and _signature(file) != self._seen.get(key):
                with np.load(file, allow_pickle=False) as data:
                    for p, feats in zip(data["paths"].tolist(), data["features"], strict=True):
                        table.setdefault(p, feats)
            paths = sorted(table)
            tmp = file.with_suffix(".tmp.npz")
            np.savez(tmp, paths=np.array(paths), features=np.stack([table[p] for p in paths]))
            tmp.replace(file)
            self._seen[key] = _signature(file)

    def ensure(self, paths: list[str], variants: list[Variant]) -> None:
        """Compute and cache every missing (path, variant) pair, a clip's variants in one task."""
        todo: dict[str, list[Variant]] = {}
        for v in variants:
            known = self._known(v)
            for p in paths:
                if p not in known:
                    todo.setdefault(p, []).append(v)
        if not todo:
            return
        log.info("features: computing %d clip(s) x variants with %d worker(s)", len(todo), self.workers)
        tasks = [(p, self.config.to_json(), vs) for p, vs in todo.items()]
        for (p, _c, vs), feats in zip(tasks, self._map(tasks), strict=True):
            for v, f in zip(vs, feats, strict=True):
                self._load(v)[p] = f
        for v in variants:
            self._save(v)

    def _map(self, tasks: list) -> list[list[np.ndarray]]:
        if self.workers <= 1:
            _warm_up()
            return [_clip_features(t) for t in tasks]
        ctx = multiprocessing.get_context("spawn")  # never fork a process that has TensorFlow loaded
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_worker_start) as pool:
            return list(pool.map(_clip_features, tasks, chunksize=16))

    def forget(self, variant: Variant) -> None:
        """Drop a variant's table from memory (it stays on disk): callers that have stacked what they
        need free hundreds of MB per variant."""
        self._mem.pop(cache_key(self.config, variant), None)

    def get(self, paths: list[str], variant: Variant) -> np.ndarray:
        """(n, frames, features) for paths, computing what is missing."""
        self.ensure(paths, [variant])
        table = self._load(variant)
        if not paths:
            return np.zeros((0, self.config.frames, self.config.n_features), np.float32)
        return np.stack([table[p] for p in paths])
