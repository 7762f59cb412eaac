"""The linear family: two multinomial logistic heads (uncalibrated, and on a speaker baseline) on the
statistics a bundled encoder file itself computes, measured under the calibration protocol and exported as
that file's graph with the heads and the calibration inputs (no Keras). The corpus protocol (leave one corpus out)
measures a recipe on corpora it never trained on (training/linear/corpus.py)."""

from __future__ import annotations

from pathlib import Path


class LinearFamily:
    """The Family protocol (training/families.py) for linear-head presets."""

    name = "linear"
    protocols = ("calibration", "corpus")
    export_command = "linear"

    def owns(self, preset) -> bool:
        from speechsense.training.linear.recipe import LinearRecipe

        return isinstance(preset.recipe, LinearRecipe)

    def train(self, preset, job) -> dict | None:
        if job.protocol == "corpus":
            from speechsense.training.linear.corpus import run_corpus

            return run_corpus(preset, job.out, job.data_root, job.cache, job.reports, job.threads)
        from speechsense.training.linear.train import run_linear

        return run_linear(preset, job.out, job.data_root, job.cache, job.reports, job.threads)

    def export(self, options) -> int:
        from speechsense.training.linear.export import export_run

        return export_run(options)

    def render_card(self, run: Path, report: dict, metadata, reports_root: Path, commands: list[str]) -> str:
        from speechsense.training.linear.card import render_linear_card

        return render_linear_card(run, report, metadata, reports_root, commands)
