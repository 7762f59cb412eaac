"""From a request's audio to scored API results: the steps a clip and a stream share.

Decoding and cutting (AudioSession), scoring on the engine, session calibration in stream order,
and the result messages. The analyzer sequences these for clips and streams alike, so that a clip
and a stream of the same audio read the same.
"""

from __future__ import annotations

from speechsense.audio import AudioError, decode_bytes, encoded_info
from speechsense.server import calibration
from speechsense.server.calibration import Calibrator
from speechsense.server.config import ServerOptions
from speechsense.server.engine import Engine, Scored, mean_probabilities
from speechsense.server.messages import SummaryBuilder, pcm_format, utterance_result, window_plan, window_result
from speechsense.server.session import AudioSession, LimitExceeded
from speechsense.server.utterances import Segmenter, Utterance, UtteranceOptions, wants_utterances
from speechsense.v1 import emotion_pb2 as pb
from speechsense.windowing import Window, WindowPlan


class Scorer:
    """The model's way through one call's audio; holds no per-call state (that is the session's)."""

    def __init__(self, options: ServerOptions, engine: Engine) -> None:
        self.options, self.engine, self.model = options, engine, engine.model
        self.rate = self.model.meta.feature_config.sample_rate

    def plan(self, spec: pb.WindowSpec) -> WindowPlan:
        meta = self.model.meta
        return window_plan(spec, meta.feature_config.window_seconds, meta.default_hop_seconds)

    def segmenter(self, segmentation: int, spec: pb.UtteranceSpec) -> Segmenter | None:
        """A Segmenter for SEGMENTATION_UTTERANCES, None for fixed windows; AudioError names a bad field."""
        options = UtteranceOptions.resolve(spec)  # range-checked in either mode
        if not wants_utterances(segmentation):
            return None
        cfg = self.model.meta.feature_config
        return Segmenter(options, self.engine.detector, cfg.sample_rate, self.engine.options.utterance_min_dbfs,
                         cfg.trim_top_db)

    def calibrator(self, mode: int, profile: pb.SpeakerProfile | None) -> Calibrator:
        return calibration.resolve(mode, profile, self.model)

    def stream_session(self, cfg: pb.StreamConfig) -> AudioSession:
        return AudioSession(pcm_format(cfg.format), self.plan(cfg.window), self.rate, self.options.max_stream_seconds,
                            self.segmenter(cfg.segmentation, cfg.utterance))

    def clip_session(self, request, analyse: bool = True) -> tuple[AudioSession, list]:
        """Decode and cut a whole clip (CPU work: run it on the executor); an enrolment (analyse=False,
        a CreateSpeakerProfileRequest) is cut into the model's own windows."""
        source = request.WhichOneof("audio_source")
        if source is None:
            raise AudioError("request holds no audio: set raw or encoded")
        if analyse:
            plan, segmenter = self.plan(request.window), self.segmenter(request.segmentation, request.utterance)
        else:
            plan, segmenter = self.plan(pb.WindowSpec()), None
        limit = self.options.max_clip_seconds
        if source == "raw":
            session = AudioSession(pcm_format(request.raw.format), plan, self.rate, limit, segmenter)
            items = session.push_pcm(request.raw.data)
        else:
            seconds = encoded_info(request.encoded).seconds
            if seconds > limit:  # refused from the header, before decoding it all
                raise LimitExceeded(f"clip of {seconds:.1f} s exceeds the server's limit of {limit:g} s per call")
            session = AudioSession(None, plan, self.rate, limit, segmenter)
            items = session.push_model_rate(decode_bytes(request.encoded, self.rate))
        return session, items + session.finish()

    def score(self, session: AudioSession, item: Window | Utterance, calib: Calibrator):
        """The scoring coroutine of a window or an utterance (session calibration is applied in order, later)."""
        baseline = None if calib.adapts else calib.baseline()
        if isinstance(item, Utterance):
            return self.engine.score_utterance(item.samples, session.windower.window, session.windower.hop,
                                               baseline)
        return self.engine.score(item.samples, item.end - item.start, baseline=baseline)

    async def _calibrated(self, scored: list[Scored], calib: Calibrator) -> list[Scored]:
        """Session calibration, in stream order: read the item against the speech before it, then learn it."""
        if not calib.adapts:
            return scored
        baseline = calib.baseline()
        if baseline is not None:
            scored = await self.engine.rescore(scored, baseline.values)
        for s in scored:
            if s.is_speech:
                calib.observe(s.head_input)
        return scored

    async def result(self, session: AudioSession, item: Window | Utterance, scored, summary: SummaryBuilder,
                     calib: Calibrator) -> tuple[str, pb.WindowResult | pb.UtteranceResult]:
        """The API message for a scored item, in stream order, added to the summary: (kind, message)."""
        labels = self.model.labels
        if isinstance(item, Utterance):
            windows = await self._calibrated(scored, calib)
            probabilities = mean_probabilities(windows)
            summary.add_utterance(probabilities, len(windows))
            return "utterance", utterance_result(item, probabilities, len(windows), labels, session.model_rate)
        (scored,) = await self._calibrated([scored], calib)
        summary.add(scored.probabilities)
        return "window", window_result(item, scored.probabilities, labels, session.model_rate)
