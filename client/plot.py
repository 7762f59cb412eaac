"""The --plot chart: each label's score over the session, silence shaded."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from speechsense.client.results import WindowView, labels_of


def save_plot(windows: list[WindowView], path: str | Path, title: str = "emotion scores over the session") -> Path:
    """Draw one line per label against window centre time and save it (Agg, no display needed)."""
    path = Path(path)
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    centres = [(w.start_seconds + w.end_seconds) / 2 for w in windows]
    for label in labels_of(windows):
        ys = [w.scores.get(label, 0.0) if w.is_speech else math.nan for w in windows]
        ax.plot(centres, ys, marker="o", markersize=3, linewidth=1.5, label=label)
    for w, c in zip(windows, centres, strict=True):
        if not w.is_speech:
            ax.axvline(c, color="0.85", linewidth=6, zorder=0)
    ax.set_xlabel("time (s, window centre)")
    ax.set_ylabel("score")
    ax.set_ylim(0, 1)
    ax.set_title(title if windows else f"{title} (no windows)")
    if windows:
        ax.set_xlim(0, max(w.end_seconds for w in windows))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100)
    return path
