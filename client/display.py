"""Where results go: a rich terminal view with a bar chart per window, or JSON Lines for programs."""

from __future__ import annotations

import json
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from speechsense.client.results import SummaryView, UtteranceView, WindowView

BAR_WIDTH = 32
EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(score: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar for a score in 0..1, drawn to an eighth of a character."""
    eighths = round(min(max(score, 0.0), 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


def plural(n: int, word: str) -> str:
    """'1 window', '2 windows'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def console_for(file: TextIO) -> Console:
    """A rich console on file; off a terminal, lines are not wrapped at rich's default of 80 columns."""
    return Console(file=file, highlight=False, soft_wrap=not file.isatty())


def _span(w: WindowView) -> str:
    return f"{w.start_seconds:6.2f}–{w.end_seconds:6.2f} s"


def score_table(scores: dict[str, float], highlight: str) -> Table:
    """One row per label: name, bar and percentage; the highlighted label in bold."""
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right", min_width=10)
    table.add_column()
    table.add_column(justify="right")
    for label, score in scores.items():
        style = "bold green" if label == highlight else "cyan"
        table.add_row(Text(label, style=style), Text(bar(score), style=style), f"{score * 100:5.1f}%")
    return table


class RichSink:
    """Human view: each speech window as a bar chart over every label, silence as one line."""

    def __init__(self, console: Console, status_console: Console | None = None) -> None:
        self.console = console
        self.status_console = status_console or console

    def window(self, result: WindowView) -> None:
        """Print one window as it arrives."""
        head = f"window {result.index:>4}  {_span(result)}"
        if not result.is_speech:
            self.console.print(Text(f"{head}  silence", style="dim"))
            return
        self.console.print(Text.assemble(
            (head, "bold"), "  speech  top: ", (result.top_label, "bold green"), f" {result.top_score:.2f}"))
        self.console.print(score_table(result.scores, result.top_label))

    def utterance(self, result: UtteranceView) -> None:
        """Print one utterance as it ends: its span, top label, and a bar chart over every label."""
        length = result.end_seconds - result.start_seconds
        head = (f"utterance {result.index:>3}  {result.start_seconds:6.2f}–{result.end_seconds:6.2f} s  "
                f"({length:.2f} s, {result.window_count} window{'s' if result.window_count != 1 else ''}"
                f"{', cut at max length' if result.cut_at_max_length else ''})")
        self.console.print(Text.assemble(
            (head, "bold"), "  top: ", (result.top_label, "bold green"), f" {result.top_score:.2f}"))
        self.console.print(score_table(result.scores, result.top_label))

    def summary(self, summary: SummaryView) -> None:
        """Print the session summary: mean per label over speech windows (or utterances) and the dominant emotion."""
        speech = summary.windows_analyzed - summary.windows_skipped_silence
        unit = "utterance" if summary.utterance_mode else "window"
        self.console.rule("session summary")
        counted = (f"{plural(summary.utterances_analyzed, 'utterance')} "
                   f"({plural(summary.windows_analyzed, 'window')})" if summary.utterance_mode
                   else f"{plural(summary.windows_analyzed, 'window')} "
                   f"({speech} speech, {summary.windows_skipped_silence} silence)")
        self.console.print(f"{summary.audio_seconds:.1f} s of audio, {counted}"
                           + (f", {plural(summary.reconnects, 'reconnect')}" if summary.reconnects else "")
                           + f"; calibration: {summary.calibration}")
        if not summary.dominant_label:
            self.console.print("no speech detected")
            return
        self.console.print(f"mean score per label over {'utterances' if summary.utterance_mode else 'speech windows'}:")
        self.console.print(score_table(summary.mean_scores, summary.dominant_label))
        counts = ", ".join(f"{k} {v}" for k, v in summary.ranked_counts())
        self.console.print(Text.assemble("dominant emotion: ", (summary.dominant_label, "bold green"),
                                         f"   (top label per {unit}: {counts})"))

    def status(self, message: str) -> None:
        """A warning or progress line."""
        self.status_console.print(Text(message, style="yellow"))


class JsonLinesSink:
    """Machine view: one JSON object per line on `out` (windows or utterances, then the summary); status elsewhere."""

    def __init__(self, out: TextIO, status_console: Console) -> None:
        self.out = out
        self.status_console = status_console

    def _write(self, obj: dict) -> None:
        self.out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self.out.flush()

    def window(self, result: WindowView) -> None:
        """One line per window."""
        self._write(result.to_json())

    def utterance(self, result: UtteranceView) -> None:
        """One line per utterance."""
        self._write(result.to_json())

    def summary(self, summary: SummaryView) -> None:
        """The last line."""
        self._write(summary.to_json())

    def status(self, message: str) -> None:
        """Status goes to the status console (stderr), never to the JSON stream."""
        self.status_console.print(Text(message, style="yellow"))


class RecordingSink:
    """Keeps everything it receives and forwards it; used by tests and by --plot."""

    def __init__(self, inner: RichSink | JsonLinesSink | None = None) -> None:
        self.inner = inner
        self.windows: list[WindowView] = []
        self.utterances: list[UtteranceView] = []
        self.summaries: list[SummaryView] = []
        self.messages: list[str] = []

    def window(self, result: WindowView) -> None:
        self.windows.append(result)
        if self.inner is not None:
            self.inner.window(result)

    def utterance(self, result: UtteranceView) -> None:
        self.utterances.append(result)
        if self.inner is not None:
            self.inner.utterance(result)

    def summary(self, summary: SummaryView) -> None:
        self.summaries.append(summary)
        if self.inner is not None:
            self.inner.summary(summary)

    def status(self, message: str) -> None:
        self.messages.append(message)
        if self.inner is not None:
            self.inner.status(message)
