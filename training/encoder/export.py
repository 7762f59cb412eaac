"""What keras export needs of the encoder family: rebuild the graph from the wheel and the head, and
say so in the metadata and the card. Conversion, parity and quantisation are the hybrid's own code."""

from __future__ import annotations

import json
from pathlib import Path

ENCODER_TRAINING_DATA = ("RAVDESS speech, actors 1-20 (1,200 clips, CC BY-NC-SA 4.0) + TESS (2,800 clips, "
                         "CC BY-NC-ND 4.0){extra}; acted speech; non-commercial use only. Encoder: {encoder}, "
                         "{license}, frozen")
EMODB_TEXT = " + EmoDB (454 clips of 6 emotions, 10 German actors, free research use)"


def load_encoder_model(run: Path):
    """The run's whole graph: Whisper encoder (from its installed wheel, cut to the preset's depth) ->
    layer statistics -> the trained head, as one Keras model on log-mel features."""
    import keras

    from speechsense.training.encoder.head import full_model, head_layers, stats_model
    from speechsense.training.encoder.whisper import build_encoder, load_checkpoint
    from speechsense.training.presets import PRESETS

    preset = PRESETS[json.loads((run / "preset.json").read_text())["name"]]
    head_layers()  # registers the head's layer classes before loading
    head = keras.models.load_model(run / "head.keras", safe_mode=False)
    cfg = preset.features
    encoder = build_encoder(load_checkpoint(preset.recipe.encoder), cfg.frames, cfg.n_mels, preset.recipe.depth or None)
    return full_model(stats_model(encoder), head, cfg.frames, cfg.n_features)


def encoder_metadata_fields(run: Path) -> dict:
    """model_family, encoder_name, encoder_license and training_data for ModelMetadata."""
    from speechsense.training.encoder.whisper import encoder_source

    preset = json.loads((run / "preset.json").read_text())
    src = encoder_source(preset["encoder"])
    depth = preset.get("depth") or 0
    name = src.name + (f" (first {depth} blocks)" if depth else "")
    extra = EMODB_TEXT if "emodb" in preset.get("extra_corpora", []) else ""
    return {"model_family": "encoder", "encoder_name": name, "encoder_license": src.license,
            "training_data": ENCODER_TRAINING_DATA.format(extra=extra, encoder=name, license=src.license)}


def encoder_reproduce(run: Path, export_argv: list[str], out: Path) -> list[str]:
    """The commands behind an encoder model's card: both protocols, the export as it was run, the EmoDB row."""
    import shlex

    preset = json.loads((run / "metrics.json").read_text())["preset"]
    export = "speechsense-export " + shlex.join(export_argv)
    return [f"speechsense-train --preset {preset} --protocol random",
            f"speechsense-train --preset {preset} --protocol speaker --fold all",
            export,
            f"python benchmarks/cross_corpus.py --model models/speechsense-hybrid.onnx --model {out} "
            f"--json reports/cross_corpus.json && {export}  # the card's EmoDB row"]
