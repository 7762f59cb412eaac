"""Models that ship with SpeechSense; `bundled_model()` gives the default path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUNDLED_MODEL = "speechsense-hybrid.onnx"


def bundled_model() -> Path:
    """Path of the model the server serves by default."""
    return Path(str(resources.files(__name__) / BUNDLED_MODEL))
