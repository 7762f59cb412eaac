"""Models that ship with SpeechSense, one file per family; `bundled_model()` gives the default path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUNDLED_MODELS = {"hybrid": "speechsense-hybrid.onnx", "encoder": "speechsense-encoder.onnx"}
# Chosen by the rule in training/presets.py (written before the encoder's figures existed).
DEFAULT_FAMILY = "encoder"
BUNDLED_MODEL = BUNDLED_MODELS[DEFAULT_FAMILY]


def bundled_model(family: str | None = None) -> Path:
    """Path of a bundled model by family (default: the one the server serves by default)."""
    family = family or DEFAULT_FAMILY
    if family not in BUNDLED_MODELS:
        raise ValueError(f"no bundled {family!r} model; bundled: {', '.join(BUNDLED_MODELS)}")
    return Path(str(resources.files(__name__) / BUNDLED_MODELS[family]))


def resolve_model(text: str | Path | None) -> Path:
    """A --model value: a bundled family name ("hybrid", "encoder"), a file path, or None for the default."""
    if text is None or str(text) == "":
        return bundled_model()
    if str(text) in BUNDLED_MODELS:
        return bundled_model(str(text))
    return Path(text)
