"""The eight emotion labels and the mapping from each corpus's own label codes."""

from __future__ import annotations

LABELS: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")

# RAVDESS file names carry the emotion as a two-digit code (third field).
RAVDESS_EMOTIONS: dict[str, str] = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}

# TESS names the emotion as the last token of the file name; "ps" is pleasant surprise,
# merged into "surprised" as in the study. TESS has no "calm".
TESS_EMOTIONS: dict[str, str] = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fearful",
    "happy": "happy",
    "neutral": "neutral",
    "ps": "surprised",
    "sad": "sad",
}

# EmoDB's file names carry the emotion as a German initial (sixth character). Boredom ("L") has no
# counterpart in our labels and is left out; EmoDB has no calm and no surprise.
EMODB_EMOTIONS: dict[str, str] = {
    "W": "angry",
    "E": "disgust",
    "A": "fearful",
    "F": "happy",
    "N": "neutral",
    "T": "sad",
}
EMODB_UNMAPPED = {"L": "boredom"}


def label_index(label: str) -> int:
    """Position of `label` in LABELS; ValueError names the label when unknown."""
    try:
        return LABELS.index(label)
    except ValueError:
        raise ValueError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}") from None
