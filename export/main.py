"""`speechsense-export`: turn a finished run into a self-describing ONNX model file with its card, one
subcommand per kind of export; every output path is required, so no shipped file is overwritten unasked.

    keras     a Keras run (hybrid, encoder + MLP head) -> ONNX, parity-checked against Keras
    linear    a linear-head run -> the source encoder file's graph with the heads and calibration inputs
    waveform  a feature-input file -> the same model with its front-end inside the graph
    card      rewrite a card's preset table from reports/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _common(p: argparse.ArgumentParser) -> None:
    """Flags keras and linear exports share."""
    p.add_argument("--run", type=Path, required=True, help="the finished run folder to export")
    p.add_argument("--model-name", default="speechsense-hybrid",
                   help="name stored in the metadata (default speechsense-hybrid)")
    p.add_argument("--model-version", default="1.0.0", help="version stored in the metadata (default 1.0.0)")
    p.add_argument("--hop", type=float, default=1.0, help="default hop between windows in seconds (metadata)")
    p.add_argument("--data-root", type=Path, default=None,
                   help="corpora for the parity windows (default $SPEECHSENSE_DATA or ../shared/datasets)")
    p.add_argument("--cache", type=Path, default=Path("cache"), help="manifest/feature cache (default cache/)")
    p.add_argument("--reports", type=Path, default=Path("reports"),
                   help="committed run reports (<preset>/<protocol>/, as speechsense-train copies them): the "
                        "card's preset table is built from them and the run's export.json is copied there "
                        "(default reports/)")


def _keras(sub) -> None:
    p = sub.add_parser("keras", help="a Keras run (hybrid or encoder + MLP head) to ONNX", description=(
        "Convert a finished random or random-full speechsense-train run to ONNX (opset 18, input 'features', "
        "output 'probabilities'), embed its metadata and measured metrics, and check Keras/ONNX Runtime parity "
        "on the run's real test windows (fails above 1e-4 or on any argmax difference)."))
    _common(p)
    p.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    p.add_argument("--card", type=Path, required=True, help="model card to write from the measured figures")
    p.add_argument("--speaker-runs", type=Path, default=None,
                   help="speaker-protocol folder with fold<k>/metrics.json of the same recipe "
                        "(default <run>/../speaker); every measured fold is summarised")
    p.add_argument("--quantize", action="store_true",
                   help="also measure int8 dynamic quantisation of MatMul/LSTM; the int8 model is kept as "
                        "<run>/model.int8.onnx only if faster and at most 0.5 points less accurate on the test "
                        "split (the file at --out stays the parity-checked fp32 model)")
    p.add_argument("--ship-int8", action="store_true",
                   help="with --quantize: when the int8 model qualifies, it becomes the file at --out (the fp32 "
                        "model, parity-checked against Keras first, is kept as <run>/model.fp32.onnx); for models "
                        "too large to commit as fp32. Fails when the int8 model does not qualify")


def _linear(sub) -> None:
    p = sub.add_parser("linear", help="a linear-head run to a calibrated encoder model", description=(
        "Build the model file of a finished `--protocol calibration` run of a linear-head preset from --source's "
        "encoder and the run's heads, with speaker-calibration inputs (no Keras), parity-checked in numpy."))
    _common(p)
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", type=Path, help="ONNX file to write (needs --card)")
    out.add_argument("--fold-models", type=Path, metavar="DIR",
                     help="write the run's speaker-fold heads as DIR/fold{k}.onnx (protocol speaker-fold{k}) for "
                          "benchmarks/robustness.py --fold-models, instead of the model")
    p.add_argument("--card", type=Path, default=None, help="with --out: model card to write")
    p.add_argument("--source", type=Path, default=None,
                   help="the encoder model file the run's statistics came from (default: the preset's stats_model)")


def _waveform(sub) -> None:
    p = sub.add_parser("waveform", help="a feature-input file with its front-end inside the graph", description=(
        "Re-export the feature-input model file SOURCE with its front-end inside the graph (input 'waveform': "
        "prepared PCM windows), parity-checked on 400 real windows against the Python front-end."))
    p.add_argument("source", type=Path, metavar="SOURCE", help="the feature-input model file")
    p.add_argument("--out", type=Path, required=True, help="ONNX file to write (may be SOURCE itself)")
    p.add_argument("--card", type=Path, default=None,
                   help="the model's card, rewritten with the waveform figures (default: no card is written)")
    p.add_argument("--per-row-int8", action="store_true",
                   help="quantise an int8 source's activations per row (per frame) instead of per call, so a "
                        "window's scores no longer depend on the batch it shares (export/rowquant.py)")
    p.add_argument("--data-root", type=Path, default=None,
                   help="corpora for the parity windows (default $SPEECHSENSE_DATA or ../shared/datasets)")
    p.add_argument("--reports", type=Path, default=Path("reports"),
                   help="where the parity report goes and the card's figures are read (default reports/)")


def _card(sub) -> None:
    p = sub.add_parser("card", help="rewrite a card's preset table from reports/", description=(
        "Rewrite only the preset comparison table of CARD from --reports (for a preset measured after the model "
        "was exported); nothing is converted."))
    p.add_argument("card", type=Path, metavar="CARD", help="the model card to refresh")
    p.add_argument("--reports", type=Path, default=Path("reports"), help="committed run reports (default reports/)")


def build_parser() -> argparse.ArgumentParser:
    """The parser with its four subcommands, each explained in its --help."""
    parser = argparse.ArgumentParser(prog="speechsense-export", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="{keras,linear,waveform,card}")
    for add in (_keras, _linear, _waveform, _card):
        add(sub)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags, each explained in --help."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "keras" and args.ship_int8 and not args.quantize:
        parser.error("--ship-int8 needs --quantize")
    if args.command == "linear" and (args.out is None) != (args.card is None):
        parser.error("linear: --out and --card go together (--fold-models takes neither)")
    return args


def _family(run: Path, command: str):
    """The run's family (training/families.py decides), refused when another subcommand exports it."""
    from speechsense.training.families import family_of_run

    family = family_of_run(run)
    if family.export_command != command:
        raise SystemExit(f"{run} is a run of the {family.name} family: export it with "
                         f"`speechsense-export {family.export_command}`")
    return family


def main(argv: list[str] | None = None) -> int:
    """Entry point of speechsense-export."""
    args = parse_args(argv)
    command_line = tuple(sys.argv[1:] if argv is None else argv)
    if args.command == "card":
        from speechsense.training.cards import refresh_table

        refresh_table(args.card, args.reports)
        print(f"refreshed the preset table of {args.card} from {args.reports}", flush=True)
        return 0
    if args.command == "waveform":
        from speechsense.export.waveform_main import main_waveform

        return main_waveform(args, list(command_line))
    family = _family(args.run, args.command)
    options = dict(run=args.run, reports=args.reports, cache=args.cache, model_name=args.model_name,
                   model_version=args.model_version, hop=args.hop, data_root=args.data_root, argv=command_line)
    if args.command == "keras":
        from speechsense.training.keras_export import KerasExport

        return family.export(KerasExport(out=args.out, card=args.card, speaker_runs=args.speaker_runs,
                                         quantize=args.quantize, ship_int8=args.ship_int8, **options))
    from speechsense.training.linear.export import LinearExport

    return family.export(LinearExport(out=args.out, card=args.card, fold_models=args.fold_models,
                                      source=args.source, **options))


if __name__ == "__main__":
    sys.exit(main())
