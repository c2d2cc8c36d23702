"""python -m convert tflite|onnx|all|diagnose|micro: export the trained model and verify every file."""

import argparse
import sys

from .onnx_export import ONNX_PRECISIONS
from .tflite_export import TFLITE_PRECISIONS

DEFAULT_PRECISIONS = ["float32", "int8"]

EXAMPLES = """
examples:
  python -m convert all                                   # float32 + int8, TFLite and ONNX
  python -m convert tflite --quantize int8 float16 dynamic
  python -m convert all --quantize int8 --calibration-samples 500 --per-tensor --models /tmp/models
  python -m convert diagnose                              # int8 error per layer, and what to change
  python -m convert micro                                 # int8 for TFLite Micro: C++ files, measured arena

Each file is loaded back through the runtime and compared with the Keras model on the
reference bundle before it replaces anything; the exit status is 1 if any check fails.
"""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m convert",
        description="Export models/mnist_mlp.keras to TFLite and ONNX, verify each file against "
        "the Keras outputs, list it in models/manifest.json and print a summary table.",
        epilog=EXAMPLES,
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=100),
    )
    parser.add_argument("target", choices=["tflite", "onnx", "all", "diagnose", "micro"],
                        help="which formats to export; `diagnose`: where int8 loses accuracy, layer by layer; "
                        "`micro`: a batch-1 model for TFLite Micro with its C++ files in DIR/micro/ and a measured "
                        "tensor arena (one precision, default int8; float32 also runs, float16 and dynamic are refused)")
    parser.add_argument("--quantize", nargs="+", choices=TFLITE_PRECISIONS, metavar="PRECISION",
                        help=f"precisions: TFLite any of {', '.join(TFLITE_PRECISIONS)}; ONNX "
                        f"{' or '.join(ONNX_PRECISIONS)} (default: {' '.join(DEFAULT_PRECISIONS)})")
    parser.add_argument("--calibration-samples", type=int, default=None, metavar="N",
                        help="training images used to calibrate int8 activations (default: all that "
                        "`python -m train` kept in calibration.npz, up to 2000)")
    parser.add_argument("--per-tensor", action="store_true",
                        help="int8 weights with one scale per tensor instead of one per output channel")
    parser.add_argument("--diagnose", action="store_true",
                        help="also print the layer-by-layer int8 diagnosis (printed anyway when int8 TFLite "
                        "fails its check); `diagnose` alone prints it without converting")
    parser.add_argument("--models", default="models", metavar="DIR",
                        help="folder written by `python -m train` (default: models)")
    args = parser.parse_args(argv)
    if args.target == "onnx" and args.quantize and not set(args.quantize) & set(ONNX_PRECISIONS):
        parser.error(f"ONNX export supports {' and '.join(ONNX_PRECISIONS)}, not {' '.join(args.quantize)}")
    if args.target == "micro" and args.quantize and len(args.quantize) > 1:
        parser.error(f"micro builds one precision at a time, got {' '.join(args.quantize)}")
    return args


def targets_for(args) -> list:
    from .conversion import Target

    precisions = list(dict.fromkeys(args.quantize or DEFAULT_PRECISIONS))
    targets = []
    if args.target in ("tflite", "all"):
        targets += [Target("tflite", p) for p in precisions]
    if args.target in ("onnx", "all"):
        targets += [Target("onnx", p) for p in precisions if p in ONNX_PRECISIONS]
    return targets


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.target == "micro":
        return micro_main(args)
    from runtime.parity import format_table

    from .conversion import ConversionError, ConvertOptions, convert

    options = ConvertOptions(targets_for(args), models=args.models, calibration_samples=args.calibration_samples,
                             per_channel=not args.per_tensor, diagnose=args.diagnose or args.target == "diagnose")
    try:
        report = convert(options)
    except ConversionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if report.results:
        print()
        print(format_table(report.results, report.reference))
    if not report.passed:
        failed = ", ".join(r.artifact for r in report.results if not r.passed)
        print(f"\nVerification failed for {failed}; earlier files at those paths were left as they were.", file=sys.stderr)
        return 1
    return 0


def micro_main(args) -> int:
    from runtime.parity import format_table

    from .conversion import ConversionError
    from .micro import MicroOptions, convert_micro

    options = MicroOptions(models=args.models, precision=(args.quantize or ["int8"])[0],
                           calibration_samples=args.calibration_samples, per_channel=not args.per_tensor)
    try:
        report = convert_micro(options)
    except ConversionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print()
    print(format_table(report.results, report.reference))
    if not report.passed:
        print(f"\nVerification failed for {report.results[0].artifact}; no file was written.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
