"""Flat-out throughput: the server's AnalyzeClip against the study's way of serving, in one run.

The study's way: one process, librosa features per window, then Keras `model.predict` per
window. Ours: speechsense-server (its own process) on the ONNX model, AnalyzeClip on long
clips from a few concurrent callers. Both are reported in windows per second, together with
the model's FLOPs per window (from its ONNX graph) and ONNX Runtime's measured float32 GEMM rate
on this CPU, which give the compute bound. Needs the `train` extra (TensorFlow) for the baseline:
    python benchmarks/throughput.py --model models/speechsense-hybrid.onnx
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

import grpc
import numpy as np
from onnx_macs import count_macs, gemm_rates
from server_process import start_server
from stream_load import RATE, speech_audio

from speechsense.features import window_features
from speechsense.server.config import EngineOptions
from speechsense.server.model import EmotionModel
from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
# the server's flags for long clips, before --server-args
CLIP_SERVER_FLAGS = ("--log-level", "WARNING", "--max-message-bytes", str(64 << 20), "--max-clip-seconds", "3600")


def study_way(audio: np.ndarray, onnx_path: Path, keras_path: Path | None, windows: int) -> tuple[float, object]:
    """Windows per second of librosa features + Keras predict per window, one process."""
    import keras

    from speechsense.training.hybrid.models import AdditiveAttention, build_hybrid

    meta = EmotionModel(onnx_path, EngineOptions()).meta  # the same features as the served model
    cfg = meta.feature_config
    model = (keras.models.load_model(keras_path, custom_objects={"AdditiveAttention": AdditiveAttention})
             if keras_path else build_hybrid(cfg.frames, cfg.n_features))
    model.predict(np.zeros((1, cfg.frames, cfg.n_features), np.float32), verbose=0)
    t = time.perf_counter()
    for i in range(windows):
        x = meta.normalizer.apply(window_features(audio[i * RATE:i * RATE + cfg.window_samples], cfg))
        model.predict(x[None], verbose=0)
    return windows / (time.perf_counter() - t), model


async def ours(address: str, audio: np.ndarray, clips: int, concurrency: int) -> tuple[float, int, int]:
    """Windows per second of AnalyzeClip on long clips from `concurrency` callers (and how many held speech)."""
    raw = pb.RawAudio(format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=RATE),
                      data=(np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    async with grpc.aio.insecure_channel(address, options=[("grpc.max_send_message_length", 64 << 20)]) as ch:
        stub = emotion_pb2_grpc.EmotionServiceStub(ch)
        await stub.AnalyzeClip(pb.AnalyzeClipRequest(raw=raw))  # warm
        queue = list(range(clips))
        done = speech = 0

        async def worker():
            nonlocal done, speech
            while queue:
                queue.pop()
                reply = await stub.AnalyzeClip(pb.AnalyzeClipRequest(raw=raw))
                done += len(reply.windows)
                speech += sum(w.is_speech for w in reply.windows)

        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - t), done, speech


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=REPO / "models" / "speechsense-hybrid.onnx")
    p.add_argument("--keras", type=Path, help="trained .keras model for the baseline (default: same architecture, "
                   "random weights: speed does not depend on the weights)")
    p.add_argument("--clip-seconds", type=float, default=60.0)
    p.add_argument("--clips", type=int, default=12)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--baseline-windows", type=int, default=40)
    p.add_argument("--port", type=int, default=50071)
    p.add_argument("--server-args", default="", help="extra flags for speechsense-server, e.g. '--max-batch 64'")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    args = p.parse_args()
    audio = speech_audio(args.clip_seconds, args.data)
    proc, _ = start_server(args.model, *CLIP_SERVER_FLAGS, *args.server_args.split(), port=args.port)
    try:
        ours_wps, n, speech = asyncio.run(ours(f"127.0.0.1:{args.port}", audio, args.clips, args.concurrency))
    finally:
        proc.terminate()
        proc.wait(30)
    study_wps, _ = study_way(audio, args.model, args.keras, args.baseline_windows)
    # The model's MACs from its ONNX graph and ONNX Runtime's own float32 GEMM rate (benchmarks/onnx_macs.py)
    macs, peak = count_macs(args.model), gemm_rates(threads=os.cpu_count() or 1)["fp32_gflops"]
    flops = 2 * (macs["float_macs"] + macs["int8_macs"])
    result = {
        "cpu_cores": os.cpu_count(), "study_way_windows_per_s": round(study_wps, 1),
        "server_windows_per_s": round(ours_wps, 1), "server_windows": n,
        "server_speech_windows": speech, "speedup": round(ours_wps / study_wps, 1),
        "model_mflops_per_window": round(flops / 1e6, 1), "ort_fp32_gemm_gflops": peak,
        "compute_bound_windows_per_s": round(peak * 1e9 / flops, 1),
        "fraction_of_compute_bound": round(ours_wps * flops / (peak * 1e9), 3),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
