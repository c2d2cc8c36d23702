"""The body of `python -m convert`: set up a user's model when asked (--keras), convert or
build the micro artifact, print the parity table; returns the exit status (0 ok, 1 a file
failed its check, 2 could not start)."""

from __future__ import annotations

import sys

from runtime.errors import ToolkitError
from runtime.tables import parity_table
from runtime.untrusted import for_terminal

from .onnx_export import ONNX_PRECISIONS


def targets_for(args) -> list:
    """The artifacts the parsed arguments ask for (args.quantize holds the precisions)."""
    from .conversion import Target

    targets = []
    if args.target in ("tflite", "all"):
        targets += [Target("tflite", p) for p in args.quantize]
    if args.target in ("onnx", "all"):
        targets += [Target("onnx", p) for p in args.quantize if p in ONNX_PRECISIONS]
    return targets


def limits_for(args):
    """The limits --max-drop and --float-max-dp ask for (the defaults where not given)."""
    from runtime.evaluate.parity import limits_from_options
    from runtime.verdict import Limits

    return limits_from_options(args.max_drop, args.float_max_dp) or Limits()


def web(args) -> int:
    """`python -m convert web`: no TensorFlow, only the manifest, the ONNX file and the page."""
    from runtime.evaluate.parity import limits_from_options

    from .web import WebOptions, build_web, format_build

    try:
        build = build_web(WebOptions(models=args.models, artifact=args.artifact,
                                     limits=limits_from_options(args.max_drop, args.float_max_dp)))
    except ToolkitError as err:
        print(f"error: {for_terminal(err)}", file=sys.stderr)
        return 2
    print(format_build(build))
    return 0


def run(args) -> int:
    if args.target == "web":
        return web(args)
    from .conversion import ConvertOptions, convert
    from .micro import MicroOptions, convert_micro
    from .user_model import UserModelOptions, prepare_user_model

    try:
        if args.keras:
            prepare_user_model(UserModelOptions(
                keras=args.keras, data=args.data, models=args.models, labels=args.labels, input_scale=args.input_scale,
                mean=tuple(args.mean), std=tuple(args.std), preprocessing=args.preprocess, resize=args.resize))
            print()
        if args.target == "micro":
            report = convert_micro(MicroOptions(models=args.models, precision=args.quantize[0],
                                                calibration_samples=args.calibration_samples,
                                                per_channel=not args.per_tensor, limits=limits_for(args),
                                                engine=args.engine == "c", npu=args.npu,
                                                fallback=not args.plain_int8))
        else:
            report = convert(ConvertOptions(
                targets_for(args), models=args.models, calibration_samples=args.calibration_samples,
                per_channel=not args.per_tensor, diagnose=args.diagnose or args.target == "diagnose",
                metadata=not args.no_metadata, verbose=args.verbose, limits=limits_for(args),
                fallback=not args.plain_int8, golden_images=args.golden_images))
    except ToolkitError as err:
        print(f"error: {for_terminal(err)}", file=sys.stderr)
        return 2
    if report.results:
        print()
        print(parity_table(report.results, report.reference))
    if not report.passed:
        failed = ", ".join(r.artifact for r in report.results if not r.passed)
        print(f"\nVerification failed for {failed}; earlier files at those paths were left as they were.", file=sys.stderr)
        return 1
    return 0
