"""Score an audio file with a SpeechSense waveform model, using only numpy, soundfile and onnxruntime.

    python examples/score_wav.py models/speechsense-encoder.onnx examples/03-01-05-02-01-01-02.flac

Windows as the server cuts them (the model's window and hop), each prepared as the metadata's
"waveform_preparation" says, scored in one call; prints the top label of their mean (no speech gate).
"""
import json
import sys

import numpy as np
import onnxruntime as ort
import soundfile as sf

session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
cfg, labels = json.loads(meta["feature_config"]), json.loads(meta["labels"])
audio, rate = sf.read(sys.argv[2], dtype="float32", always_2d=True)
if rate != cfg["sample_rate"] or meta.get("model_input") != "waveform":
    sys.exit(f"need {cfg['sample_rate']} Hz audio (got {rate}) and a waveform model (speechsense-export waveform)")
audio, size = audio.mean(axis=1), round(cfg["window_seconds"] * rate)
hop = round(float(meta["default_hop_seconds"]) * rate)


def prepare(y, n_fft=cfg["n_fft"], step=cfg["hop_length"]):
    """Peak-normalise, trim silence as librosa.effects.trim (frame RMS within top_db of the loudest), pad or cut."""
    y = y / np.abs(y).max() if cfg["peak_normalize"] and np.abs(y).max() > 1e-6 else y
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, n_fft // 2), n_fft)[::step]
    rms = np.maximum(np.sqrt(np.mean(frames ** 2, axis=1)), 1e-5)
    loud = np.flatnonzero(20 * np.log10(rms / rms.max()) > -cfg["trim_top_db"])
    if cfg["trim_silence"] and loud.size:
        y = y[loud[0] * step:min(y.size, (loud[-1] + 1) * step)]
    return np.pad(y[:size], (0, max(0, size - y.size)))


starts = range(0, audio.size - size + 1, hop) if audio.size >= size else [0] * (audio.size >= 0.5 * rate)
if not starts:
    sys.exit("the clip is shorter than 0.5 s: no window to score")
feeds = {"waveform": np.stack([prepare(audio[s:s + size]) for s in starts]).astype(np.float32)}
for extra in session.get_inputs()[1:]:  # a calibrated model's speaker inputs: zeros read as "no speaker profile"
    feeds[extra.name] = np.zeros((len(feeds["waveform"]), extra.shape[1]), np.float32)
print(labels[int(session.run(["probabilities"], feeds)[0].mean(axis=0).argmax())])
