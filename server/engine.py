"""Window scoring: features on a thread pool, inference batched across all streams on one thread.

Every open stream submits its windows here. Feature extraction (librosa, numpy) runs on a
small pool in parallel with inference; inference takes whatever windows are queued, up to
max_batch, and runs them as one ONNX Runtime call, so many streams cost far less than one
call each.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from speechsense.features import window_features
from speechsense.server.config import EngineOptions
from speechsense.server.metrics import ServerMetrics
from speechsense.server.model import EmotionModel
from speechsense.server.utterances import utterance_windows
from speechsense.server.vad import SpeechDetector


@dataclass(frozen=True)
class Scored:
    """A window's outcome: probabilities in label order, or None when it held no speech."""

    probabilities: np.ndarray | None

    @property
    def is_speech(self) -> bool:
        return self.probabilities is not None


class Engine:
    """Shared scoring pipeline; start() inside the server's event loop, close() at shutdown."""

    def __init__(self, model: EmotionModel, options: EngineOptions, metrics: ServerMetrics) -> None:
        self.model, self.options, self.metrics = model, options, metrics
        cfg = model.meta.feature_config
        self.detector = SpeechDetector(cfg.sample_rate, options.vad_aggressiveness,
                                       options.speech_threshold, options.min_speech_dbfs)
        self._features = ThreadPoolExecutor(options.feature_workers, thread_name_prefix="features")
        self._inference = ThreadPoolExecutor(1, thread_name_prefix="inference")
        self._queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future]] | None = None
        self._batcher: asyncio.Task | None = None

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._batcher = asyncio.create_task(self._batch_loop(), name="inference-batcher")

    async def close(self) -> None:
        if self._batcher is not None:
            self._batcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._batcher
        self._features.shutdown(wait=True, cancel_futures=True)
        self._inference.shutdown(wait=True, cancel_futures=True)

    def warm_up(self) -> None:
        """Pay the first calls' costs (numba compiling librosa, ONNX Runtime's arena) before serving."""
        noise = (0.1 * np.random.default_rng(0).standard_normal(self.model.meta.feature_config.window_samples))
        noise = noise.astype(np.float32)
        self.detector.is_speech(noise)
        self._prepare_features(noise)
        self.model.warm_up(self.options.max_batch)

    async def run_cpu(self, fn, *args):
        """Run other CPU work (decoding a clip) on the feature pool, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._features, fn, *args)

    async def score(self, samples: np.ndarray, real_samples: int, gate: bool = True) -> Scored:
        """Score one window; the first real_samples are audio, the rest padding. gate=False skips the
        VAD (an utterance's windows are speech by construction)."""
        loop = asyncio.get_running_loop()
        prepare = self._prepare if gate else self._prepare_ungated
        features = await loop.run_in_executor(self._features, prepare, samples, real_samples)
        if features is None:
            return Scored(None)
        future = loop.create_future()
        await self._queue.put((features, future))
        return Scored(await future)

    def _prepare(self, samples: np.ndarray, real_samples: int) -> np.ndarray | None:
        """VAD, optional noise reduction, features, standardisation: None for a silent window."""
        if not self.detector.is_speech(samples[:real_samples]):
            return None
        return self._prepare_features(samples)

    def _prepare_ungated(self, samples: np.ndarray, real_samples: int) -> np.ndarray:
        return self._prepare_features(samples)

    def _prepare_features(self, samples: np.ndarray) -> np.ndarray:
        meta = self.model.meta
        if self.options.noise_reduction:
            samples = reduce_noise(samples, meta.feature_config.sample_rate)
        return meta.normalizer.apply(window_features(samples, meta.feature_config))

    async def score_utterance(self, samples: np.ndarray, window: int, hop: int) -> tuple[np.ndarray, int]:
        """Mean probabilities over an utterance's windows (see utterance_windows) and how many there were."""
        windows = utterance_windows(samples, window, hop)
        scored = await asyncio.gather(*(self.score(w, real, gate=False) for w, real in windows))
        return np.mean([s.probabilities for s in scored], axis=0).astype(np.float32), len(windows)

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            await self._fill(batch)
            live = [(f, fut) for f, fut in batch if not fut.done()]  # skip windows of cancelled streams
            if not live:
                continue
            self.metrics.batch_size.observe(len(live))
            try:
                probs = await loop.run_in_executor(self._inference, self.model.predict,
                                                   np.stack([f for f, _ in live]))
            except Exception as exc:  # hand the failure to every waiting stream, keep serving
                for _, fut in live:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), p in zip(live, probs, strict=True):
                if not fut.done():
                    fut.set_result(p)

    async def _fill(self, batch: list) -> None:
        """Add what is queued now, then wait up to max_wait_ms for more, up to max_batch."""
        deadline = asyncio.get_running_loop().time() + self.options.max_wait_ms / 1000
        while len(batch) < self.options.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                return


def reduce_noise(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Stationary spectral gating as the study's live loop did (noisereduce defaults otherwise)."""
    import noisereduce  # imported on use: it is optional and slow to import

    return noisereduce.reduce_noise(y=samples, sr=sample_rate, stationary=True).astype(np.float32)
