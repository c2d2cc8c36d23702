"""python -m convert tflite|onnx|all|diagnose|micro|web: export a Keras model and verify every
file, or build the web page of an exported one. Parsing only; convert/commands.py runs it."""

import argparse
import sys
from pathlib import Path

from runtime.contract import RESIZE_MODES
from runtime.verdict import DEFAULT_FLOAT_MAX_DP, DEFAULT_MAX_DROP

from .golden import GOLDEN_IMAGES, GOLDEN_SHARE
from .npu import NPUS
from .onnx_export import ONNX_PRECISIONS
from .tflite_export import TFLITE_PRECISIONS

DEFAULT_PRECISIONS = ["float32", "int8"]

EXAMPLES = """
examples:
  python -m convert all                                   # float32 + int8, TFLite and ONNX
  python -m convert tflite --quantize int8 float16 dynamic
  python -m convert all --quantize int8 --calibration-samples 500 --per-tensor --models /tmp/models
  python -m convert all --max-drop 0.5                    # int8 may lose at most 0.5 pp (default 1)
  python -m convert diagnose                              # int8 error per layer, and what to change
  python -m convert micro                                 # int8 for TFLite Micro: C++ files, measured arena,
                                                          # and the C engine (plain C99, no interpreter)
  python -m convert micro --npu ethos-u55-128             # also Vela's compilation for an Arm Ethos-U NPU
  python -m convert web                                   # models/web/: a page running the int8 ONNX file in a browser
  python -m convert web --artifact mnist_mlp_float32.onnx --models /tmp/models
  python -m convert all --keras shapes.keras --data shapes/            # your own model: class folders
  python -m convert all --keras net.keras --data data.npz --labels names.txt --input-scale 1

Each file is loaded back through the runtime and compared with the Keras model on the
reference bundle before it replaces anything. A lossy file is judged on its accuracy change on
those images, paired image by image: verified when they show (95%) that it loses no more than
--max-drop, refused (not written) when they show it loses more, unproven (written, and said
so) when they show neither; the verdict says which --max-drop they do prove and about how many
images would settle it. An int8 file that is not verified is replaced by the cheapest measured
fix that is (7-bit or per-tensor weights, ops kept in float, 16-bit activations), else by the
one with the best measured change; each try and its time is printed. The verdict, its numbers
and the limits go into the manifest. Exit status 1 if any file is refused, 2 for bad input.

Your own model (--keras): any Keras 3 image classifier saved as .keras, one input (H, W) or
(H, W, C) with C 1 or 3, one output of N classes. --data is an .npz with x (uint8 images)
and optionally y (labels) and class_names, or a folder with one subfolder of images per
class (as for keras.utils.image_dataset_from_directory). One image in ten (25 to 200)
calibrates int8 and every other one is held out as the reference bundle the verdicts rest on
(up to 10,000); without labels, parity is agreement only. The
models folder defaults to models/<model name>.
"""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m convert",
        description="Export a Keras model to TFLite and ONNX, verify each file against the Keras outputs,\n"
        "list it in DIR/manifest.json and print a summary table. Without --keras: the model that\n"
        "`python -m train` wrote into DIR.",
        epilog=EXAMPLES,
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=100),
    )
    parser.add_argument("target", choices=["tflite", "onnx", "all", "diagnose", "micro", "web"],
                        help="which formats to export; `diagnose`: where int8 loses accuracy, layer by layer; "
                        "`micro`: a batch-1 model for TFLite Micro with its C++ files in DIR/micro/ and a measured "
                        "tensor arena (one precision, default int8; float32 also runs, float16 and dynamic are refused); "
                        "`web`: DIR/web/, a page that runs an exported ONNX artifact in the browser with onnxruntime-web "
                        "(serve it with `python -m runtime serve DIR/web`)")
    parser.add_argument("--quantize", nargs="+", choices=TFLITE_PRECISIONS, metavar="PRECISION",
                        help=f"precisions: TFLite any of {', '.join(TFLITE_PRECISIONS)}; ONNX "
                        f"{' or '.join(ONNX_PRECISIONS)} (default: {' '.join(DEFAULT_PRECISIONS)})")
    parser.add_argument("--calibration-samples", type=int, default=None, metavar="N",
                        help="training images used to calibrate int8 activations (default: 200, or all the "
                        "calibration bundle holds when fewer; measured: more do not make int8 more accurate)")
    parser.add_argument("--per-tensor", action="store_true",
                        help="int8 weights with one scale per tensor instead of one per output channel")
    parser.add_argument("--plain-int8", action="store_true",
                        help="write int8 files as plain int8 quantization makes them (verified or unproven) or refuse "
                        "them, without trying the measured fixes (7-bit or per-tensor weights, the most harmful ops "
                        "kept in float, 16-bit activations)")
    parser.add_argument("--engine", choices=["c", "none"], default="c",
                        help="micro: also write the C engine, micro/<name>.c and .h: the int8 model as plain C99 with a "
                        "static memory plan and no interpreter, its outputs checked byte for byte against TFLite Micro's "
                        "(none: only the TFLite Micro files; default: c)")
    parser.add_argument("--npu", choices=NPUS, default=None, metavar="NPU",
                        help="micro: also compile the model for an Arm Ethos-U NPU with Vela (pip install "
                        "'edge-mnist[npu]') and report its estimated SRAM, flash, cycles and the ops left on the CPU; "
                        f"one of {', '.join(NPUS)}")
    parser.add_argument("--diagnose", action="store_true",
                        help="also print the layer-by-layer int8 diagnosis (printed anyway when int8 TFLite "
                        "fails its check); `diagnose` alone prints it without converting")
    parser.add_argument("--no-metadata", action="store_true",
                        help="do not embed the input contract and labels in the files (the manifest records "
                        "them either way), nor a golden set")
    parser.add_argument("--golden-images", type=_count, default=GOLDEN_IMAGES, metavar="N",
                        help="the golden set each file carries, so that `python -m runtime parity FILE` checks it on a "
                        "device with nothing else: at most N reference images with Keras's and the file's outputs, "
                        f"fewer while they would take more than {GOLDEN_SHARE * 100:.0f}%% of the file (0: none; default: "
                        f"{GOLDEN_IMAGES})")
    judged = parser.add_argument_group("what every file must meet (recorded in the manifest; `runtime parity` repeats it)")
    judged.add_argument("--max-drop", type=_non_negative, default=None, metavar="PP",
                        help="lossy files (int8, float16, dynamic, micro): the largest accuracy loss against Keras, in "
                        "percentage points: verified when the reference images show the loss within it, refused when "
                        "they show it beyond, unproven otherwise (default: "
                        f"{DEFAULT_MAX_DROP * 100:g}); web: the page's artifact must meet it (default there: as it was "
                        "converted)")
    judged.add_argument("--float-max-dp", type=_non_negative, default=None, metavar="X",
                        help="float32 files: the largest |Δp| of any class on any image; top-1 may differ only on "
                        f"near-ties (default: {DEFAULT_FLOAT_MAX_DP:g})")
    parser.add_argument("--models", default=None, metavar="DIR",
                        help="models folder (default: models, or models/<model name> with --keras)")
    parser.add_argument("--artifact", default=None, metavar="NAME",
                        help="web: the ONNX artifact the page runs, as the manifest lists it (default: the int8 ONNX "
                        "artifact, else the float32 one)")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's, the converters' and the interpreters' own log lines and warnings")
    own = parser.add_argument_group("your own model")
    own.add_argument("--keras", metavar="MODEL", help="a Keras image classifier saved as .keras")
    own.add_argument("--data", metavar="DATA", help="an .npz with x [y, class_names], or a folder of class subfolders")
    own.add_argument("--labels", metavar="FILE", help="class names, one per line (default: the folder names, "
                     "the .npz's class_names, else 0..N-1)")
    own.add_argument("--input-scale", type=_positive, default=None, metavar="S",
                     help="the model's input is pixel / S: 255 for 0..1, 1 for raw pixels (default: 1 when the model "
                     "begins with its own Rescaling, or a Normalization adapted on raw pixels, else 255)")
    own.add_argument("--mean", type=float, nargs="+", default=[], metavar="M",
                     help="subtracted after scaling, one value or one per channel (default: none)")
    own.add_argument("--std", type=_positive, nargs="+", default=[], metavar="S",
                     help="divides after the mean, one value or one per channel (default: none)")
    own.add_argument("--preprocess", choices=["resize", "mnist-digit"], default="resize",
                     help="how `runtime predict` prepares image files: resize (default), or MNIST's digit "
                     "normalisation for a 28x28 digit model")
    own.add_argument("--resize", choices=RESIZE_MODES, default="crop",
                     help="how an image of another shape is fitted: crop (aspect kept, centre crop; default), "
                     "pad (aspect kept, black borders) or stretch")
    args = parser.parse_args(argv)
    if args.target == "onnx" and args.quantize and not set(args.quantize) & set(ONNX_PRECISIONS):
        parser.error(f"ONNX export supports {' and '.join(ONNX_PRECISIONS)}, not {' '.join(args.quantize)}")
    if args.target == "micro" and args.quantize and len(args.quantize) > 1:
        parser.error(f"micro builds one precision at a time, got {' '.join(args.quantize)}")
    own_options = [f"--{name.replace('_', '-')}" for name in ("data", "labels") if getattr(args, name)]
    if not args.keras and own_options:
        parser.error(f"{' and '.join(own_options)} describe your own model: give it with --keras MODEL.keras")
    if (args.engine != "c" or args.npu) and args.target != "micro":
        parser.error("--engine and --npu choose what `python -m convert micro` writes")
    if args.artifact and args.target != "web":
        parser.error("--artifact chooses the model of `python -m convert web`")
    if args.target == "web" and (args.keras or args.quantize):
        parser.error("web builds a page for an artifact already converted: convert first, then run `python -m convert web`")
    if args.keras and not args.data:
        parser.error("--keras needs --data: images to calibrate int8 and to check every file against the model")
    args.quantize = list(dict.fromkeys(args.quantize or (["int8"] if args.target == "micro" else DEFAULT_PRECISIONS)))
    if args.models is None:
        args.models = str(Path("models") / Path(args.keras).stem) if args.keras else "models"
    return args


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def main(argv=None) -> int:
    args = parse_args(argv)
    from runtime.untrusted import terminal_output
    from train.quiet import quiet_tensorflow

    quiet_tensorflow(args.verbose)  # before TensorFlow is imported
    from .commands import run

    with terminal_output():  # nothing read from a file (a class name, a file name) can command the terminal
        return run(args)


if __name__ == "__main__":
    sys.exit(main())
