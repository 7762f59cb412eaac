"""Window scoring, batched across all streams: the Analyzer's only way to the model.

1. Per window, on a small pool: VAD, optional noise reduction, peak-normalise and trim
   (prepare_window). Cheap, and a silent window stops here.
2. Per batch, on the inference threads: whatever prepared windows are queued (up to max_batch) go
   through ONNX Runtime in one call, with the GIL released, as many calls at once as there are cores
   (inference_threads). The bundled models take waveforms (the front-end is inside their graph), so
   this is all they need; each call takes what queued up while the others were busy, so batches grow
   with load without waiting for it.
A feature-input model (a file exported without the waveform front-end) has one more stage between
the two: per batch, on a feature thread, the batched front-end (compute_features) and normaliser;
featurising the next batch overlaps scoring this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from speechsense.features import prepare_window
from speechsense.frontend import limit_blas_threads
from speechsense.server.config import EngineOptions
from speechsense.server.metrics import ServerMetrics
from speechsense.server.model import EmotionModel
from speechsense.server.utterances import utterance_windows
from speechsense.server.vad import SpeechDetector

log = logging.getLogger(__name__)
AUTO_THREADS_RATIO = 3.0  # inference / features cost per window above which inference gets every core

# (array, baseline or None, future): prepared audio waiting for features, or features waiting for inference.
_Item = tuple[np.ndarray, object, asyncio.Future]  # object: a Baseline or None


@dataclass(frozen=True)
class Baseline:
    """A speaker baseline for a calibrated model and which of its heads reads it."""

    values: np.ndarray
    profile_head: bool


@dataclass(frozen=True)
class Scored:
    """A window's outcome: probabilities in label order, or None when it held no speech; a calibrated
    model's head input for the window (None otherwise)."""

    probabilities: np.ndarray | None
    head_input: np.ndarray | None = None

    @property
    def is_speech(self) -> bool:
        return self.probabilities is not None


class Engine:
    """Shared scoring pipeline; start() inside the server's event loop, close() at shutdown."""

    def __init__(self, model: EmotionModel, options: EngineOptions, metrics: ServerMetrics) -> None:
        self.model, self.options, self.metrics = model, options, metrics
        cfg = model.meta.feature_config
        self.detector = SpeechDetector.from_options(cfg.sample_rate, options)
        # The stages are the parallelism: BLAS threads of their own only contend with them.
        limit_blas_threads()
        self._prepare_pool = ThreadPoolExecutor(options.feature_workers, thread_name_prefix="prepare")
        self._features = ThreadPoolExecutor(options.feature_threads, thread_name_prefix="features")
        cores = os.cpu_count() or 1
        self.inference_threads = options.inference_threads or (cores if model.takes_waveform else 1)
        self._inference = ThreadPoolExecutor(self.inference_threads, thread_name_prefix="inference")
        # Unbounded: each stream has at most pending_windows in flight, so the streams bound them.
        self._prepared: asyncio.Queue[_Item] = asyncio.Queue()
        self._featurised: asyncio.Queue[_Item] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [] if self.model.takes_waveform else [
            asyncio.create_task(self._feature_loop(), name=f"feature-batcher-{i}")
            for i in range(self.options.feature_threads)]
        self._tasks += [asyncio.create_task(self._inference_loop(), name=f"inference-batcher-{i}")
                        for i in range(self.inference_threads)]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for queue in (self._prepared, self._featurised):
            while not queue.empty():  # nothing will score these now
                queue.get_nowait()[-1].cancel()
        for pool in (self._prepare_pool, self._features, self._inference):
            pool.shutdown(wait=True, cancel_futures=True)

    def warm_up(self) -> None:
        """Pay the first calls' costs (numba compiling librosa, the front-end's matrices, ONNX Runtime's
        arena) before serving."""
        noise = (0.1 * np.random.default_rng(0).standard_normal(self.model.meta.feature_config.window_samples))
        noise = noise.astype(np.float32)
        self.detector.is_speech(noise)
        self._features_of([self._prepare_ungated(noise, noise.size)] * 2)
        self.model.warm_up(self.options.max_batch)
        if self.options.intra_op_threads == 0:
            self._choose_threads(noise)

    def _choose_threads(self, noise: np.ndarray, batch: int = 8) -> None:
        """Auto threads: the feature and inference stages run side by side on their own threads, so
        inference gets every core only when it costs far more per window than features do (an
        encoder model: 6-13x here; the hybrid: 0.4x, where a second inference thread measured slower),
        or when the features are inside its graph (a waveform model: no feature stage to share with)."""
        if self.model.takes_waveform:  # the cores are shared out between the concurrent inference calls
            self.model.use_threads(max(1, (os.cpu_count() or 1) // self.inference_threads))
            self.model.warm_up(self.options.max_batch)
            log.info("intra-op threads auto: waveform model, %d inference call(s) at once -> %d thread(s) each",
                     self.inference_threads, self.model.intra_op_threads)
            return
        prepared = [self._prepare_ungated(noise, noise.size)] * batch
        t0 = time.perf_counter()
        feats = self._features_of(prepared)
        t1 = time.perf_counter()
        self.model.predict(feats)
        t2 = time.perf_counter()
        ratio = (t2 - t1) / max(t1 - t0, 1e-6)
        threads = (os.cpu_count() or 1) if ratio > AUTO_THREADS_RATIO else 1
        self.model.use_threads(threads)
        self.model.warm_up(self.options.max_batch)
        log.info("intra-op threads auto: inference / features cost per window %.1f -> %d thread(s)", ratio,
                 threads)

    async def run_cpu(self, fn, *args):
        """Run other CPU work (decoding a clip) on the per-window pool, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._prepare_pool, fn, *args)

    async def score(self, samples: np.ndarray, real_samples: int, gate: bool = True,
                    baseline: Baseline | None = None) -> Scored:
        """Score one window; the first real_samples are audio, the rest padding. gate=False skips the
        VAD (an utterance's windows are speech by construction). baseline: a speaker baseline for a
        calibrated model (None: uncalibrated)."""
        prepare = self._prepare if gate else self._prepare_ungated
        prepared = await self.run_cpu(prepare, samples, real_samples)
        if prepared is None:
            return Scored(None)
        future = asyncio.get_running_loop().create_future()
        queue = self._featurised if self.model.takes_waveform else self._prepared
        queue.put_nowait((prepared, baseline, future))
        return Scored(*await future)

    async def rescore(self, scored: list[Scored], baseline: np.ndarray) -> list[Scored]:
        """Speech windows read again by the population head against another baseline, from their head inputs."""
        rows = [i for i, s in enumerate(scored) if s.is_speech]
        if not rows:
            return list(scored)
        heads = np.stack([scored[i].head_input for i in rows])
        probs = await self.run_cpu(self.model.rescore, heads, np.broadcast_to(baseline, heads.shape))
        out = list(scored)
        for i, p in zip(rows, probs, strict=True):
            out[i] = Scored(p, scored[i].head_input)
        return out

    def _prepare(self, samples: np.ndarray, real_samples: int) -> np.ndarray | None:
        """VAD, then the window's own preprocessing: None for a silent window."""
        if not self.detector.is_speech(samples[:real_samples]):
            return None
        return self._prepare_ungated(samples, real_samples)

    def _prepare_ungated(self, samples: np.ndarray, real_samples: int) -> np.ndarray:
        """Optional noise reduction, peak-normalise and trim: one window, ready for the batched front-end."""
        cfg = self.model.meta.feature_config
        if self.options.noise_reduction:
            samples = reduce_noise(samples, cfg.sample_rate)
        return prepare_window(samples, cfg)

    def _features_of(self, prepared: list[np.ndarray]) -> np.ndarray:
        """The model's input for a batch of prepared windows (the feature thread's work)."""
        return self.model.inputs_of(np.stack(prepared))

    def _predict(self, items: list[tuple[np.ndarray, Baseline | None]]) -> list[tuple]:
        """(probabilities, head input) per window; rows without a baseline get zeros (uncalibrated)."""
        features = np.stack([f for f, _ in items])
        baselines = flags = None
        if self.model.calibration_size and any(b is not None for _, b in items):
            zero = np.zeros(self.model.calibration_size, np.float32)
            baselines = np.stack([zero if b is None else b.values for _, b in items])
            flags = np.array([b is not None and b.profile_head for _, b in items])
        probs, heads = self.model.predict_calibrated(features, baselines, flags)
        return [(p, None if heads is None else h) for p, h in zip(probs, heads if heads is not None else
                                                                 [None] * len(probs), strict=True)]

    async def score_utterance(self, samples: np.ndarray, window: int, hop: int,
                              baseline: Baseline | None = None) -> list[Scored]:
        """An utterance's windows (see utterance_windows), scored; combine them with mean_probabilities."""
        windows = utterance_windows(samples, window, hop)
        return list(await asyncio.gather(*(self.score(w, real, gate=False, baseline=baseline)
                                           for w, real in windows)))

    async def _feature_loop(self) -> None:
        """Stage 2: featurise what is queued as one batch; each window's features go on to inference."""
        while True:
            live = await self._next_batch(self._prepared, self.options.max_wait_ms)
            feats = await self._run_batch(self._features, self._features_of, [a for a, _, _ in live], live)
            for (_, baseline, fut), f in zip(live, feats if feats is not None else (), strict=False):
                self._featurised.put_nowait((f, baseline, fut))

    async def _inference_loop(self) -> None:
        """Stage 3 (one loop per inference thread): score what is featurised as one ONNX Runtime call, without
        waiting for more (the feature stage already waited, up to max_wait_ms; a waveform model's inference
        waits instead)."""
        wait_ms = self.options.max_wait_ms if self.model.takes_waveform else 0.0
        while True:
            live = await self._next_batch(self._featurised, wait_ms)
            self.metrics.batch_size.observe(len(live))
            probs = await self._run_batch(self._inference, self._predict, [(f, b) for f, b, _ in live], live)
            for (_, _, fut), p in zip(live, probs if probs is not None else (), strict=False):
                if not fut.done():
                    fut.set_result(p)

    async def _next_batch(self, queue: asyncio.Queue[_Item], wait_ms: float) -> list[_Item]:
        """The next non-empty batch from queue, without the windows of cancelled streams."""
        while True:
            batch = [await queue.get()]
            await self._fill(queue, batch, wait_ms)
            live = [item for item in batch if not item[-1].done()]
            if live:
                return live

    async def _run_batch(self, pool: ThreadPoolExecutor, fn, work: list, live: list[_Item]):
        """fn(work) on pool; on an exception every waiting window of live gets it, and None."""
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, work)
        except Exception as exc:  # hand the failure to every waiting stream, keep serving
            for *_, fut in live:
                if not fut.done():
                    fut.set_exception(exc)
            return None

    async def _fill(self, queue: asyncio.Queue[_Item], batch: list[_Item], wait_ms: float) -> None:
        """Add what is queued now, then wait up to wait_ms for more, up to max_batch."""
        deadline = asyncio.get_running_loop().time() + wait_ms / 1000
        while len(batch) < self.options.max_batch:
            if not queue.empty():
                batch.append(queue.get_nowait())
                continue
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                return


def mean_probabilities(scored: list[Scored]) -> np.ndarray:
    """An utterance's probabilities: the mean over its windows."""
    return np.mean([s.probabilities for s in scored], axis=0).astype(np.float32)


def reduce_noise(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Stationary spectral gating as the study's live loop did (noisereduce defaults otherwise)."""
    import noisereduce  # imported on use: it is optional and slow to import

    return noisereduce.reduce_noise(y=samples, sr=sample_rate, stationary=True).astype(np.float32)
