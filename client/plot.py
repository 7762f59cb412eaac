"""The --plot chart: each label's score over the session, silence shaded; utterances as labelled spans."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from speechsense.client.results import UtteranceView, WindowView, labels_of


def save_plot(windows: list[WindowView], path: str | Path, title: str = "emotion scores over the session",
              utterances: list[UtteranceView] | None = None) -> Path:
    """Draw one line per label (windows) or one level per utterance span and label, and save it (Agg)."""
    path = Path(path)
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if utterances:
        end = _draw_utterances(ax, utterances)
        ax.set_xlabel("time (s); shaded: utterances, with their top label")
    else:
        end = _draw_windows(ax, windows)
        ax.set_xlabel("time (s, window centre)")
    ax.set_ylabel("score")
    ax.set_ylim(0, 1.08 if utterances else 1)
    empty = not windows and not utterances
    ax.set_title(f"{title} (no {'windows' if utterances is None else 'utterances'})" if empty else title)
    if not empty:
        ax.set_xlim(0, end)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100)
    return path


def _draw_windows(ax: Axes, windows: list[WindowView]) -> float:
    centres = [(w.start_seconds + w.end_seconds) / 2 for w in windows]
    for label in labels_of(windows):
        ys = [w.scores.get(label, 0.0) if w.is_speech else math.nan for w in windows]
        ax.plot(centres, ys, marker="o", markersize=3, linewidth=1.5, label=label)
    for w, c in zip(windows, centres, strict=True):
        if not w.is_speech:
            ax.axvline(c, color="0.85", linewidth=6, zorder=0)
    return max((w.end_seconds for w in windows), default=0.0)


def _draw_utterances(ax: Axes, utterances: list[UtteranceView]) -> float:
    """A shaded span per utterance, its top label above it, and each label's score as a level across it."""
    labels = tuple(utterances[0].scores)
    colours = {label: f"C{i}" for i, label in enumerate(labels)}
    for u in utterances:
        ax.axvspan(u.start_seconds, u.end_seconds, color="0.9", zorder=0)
        ax.text((u.start_seconds + u.end_seconds) / 2, 1.02, u.top_label, ha="center", va="bottom",
                fontsize="small", color=colours.get(u.top_label, "k"))
    for label in labels:
        ax.hlines([u.scores.get(label, 0.0) for u in utterances], [u.start_seconds for u in utterances],
                  [u.end_seconds for u in utterances], colors=colours[label], linewidth=2, label=label)
    return max(u.end_seconds for u in utterances) + 0.5
