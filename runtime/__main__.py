"""python -m runtime predict|parity|bench|info|serve|doctor|watch: the device-side commands (no TensorFlow).
Parsing only; each command's body is runtime/apps/<command>.py (doctor's: runtime/doctor.py)."""

import argparse
import importlib
import sys

from .backends import BACKENDS, MAX_THREADS
from .prediction import DEFAULT_MIN_CONFIDENCE
from .untrusted import for_terminal, terminal_output

PREDICT_EXAMPLES = """
examples:
  python -m runtime predict digit.png
  python -m runtime predict photos/ --model models/mnist_mlp_float32.onnx --json
  python -m runtime predict photos/ --top 3 --save-normalized seen/
  python -m runtime predict cat.jpg --model models/shapes/shapes_cnn_int8.tflite

Each image is prepared as the model's input contract says (`python -m runtime info MODEL`
shows it). A digit model: photos of handwritten digits work, dark ink on light paper (or
light on dark), any size, off-centre, unevenly lit, on ruled paper; each is normalised as
MNIST was: the paper and its shadows removed, the digit found among lines and specks,
strokes brought to MNIST's weight, fitted into 20x20 and centred by mass in 28x28. Any other
model: the image is read in the model's channels and resized to its input, keeping the
aspect ratio by a centre crop or padding, or stretched, as its contract says.
--save-normalized shows what the model saw. An answer below --min-confidence is marked
unsure. Without --model, the int8 TFLite artifact of DIR/manifest.json is used (--models,
default models) when its check verified it, else a file that was verified; a file whose check
was unproven is named as such on stderr. Exit status 1 if any file could not be read or holds no single digit (two
digits side by side are refused).
"""

PARITY_EXAMPLES = """
examples:
  python -m runtime parity
  python -m runtime parity mnist_mlp_int8.tflite   # one file alone, with the golden set it carries
  python -m runtime parity --models /media/sd/models --backend tflite-runtime --json
  python -m runtime parity --max-drop 0.5          # int8 may lose at most 0.5 pp here
  python -m runtime parity --backend tflite-micro  # convert micro's models on TFLite Micro, outputs vs LiteRT's
  python -m runtime parity --backend c       # convert micro's C engine, built by this machine's C compiler
  python -m runtime parity --report report      # then open report/index.html

Every artifact in DIR/manifest.json is checked against its sha256, run on the reference
bundle (DIR/reference.npz) and compared with the Keras model's probabilities, with the
limits it was converted with (the manifest records them), so the device repeats the
conversion's judgement. Each file's check says one of three outcomes: verified (the images
show it within the budget), unproven (they show neither; the verdict says which --max-drop
they do prove and about how many images would settle it) or REFUSED (they show a loss beyond
the budget, or the file does not run or changed). Each verdict says on how many images it rests.
Exit status: 0 every file verified; 1 a file refused; 3 none refused, a file unproven;
2 the check could not start. A deployment gate decides what 3 means for it.

With FILE, that one file is checked with nothing else: the golden set `convert` embedded in
it (a few dozen reference images, Keras's probabilities and the workstation's outputs of the
file) runs here, and the verdict says how this device's outputs differ from the workstation's
and from Keras's. So few images show whether this device computes what the workstation
computed; they cannot prove the accuracy budget, which rests on the conversion's reference
images. A missing golden set exits 2; a damaged or altered one is refused (exit 1).

--report DIR also writes DIR/index.html (no JavaScript, no network; its fig_*.png figures
beside it, replacing earlier ones): confusion matrices, per-digit accuracy and agreement,
|Δp| histograms and the test images each artifact and Keras disagree on; and
DIR/model_card.md from the manifest, this run and a quick latency per artifact. It needs
matplotlib: pip install "edge-mnist[report]". The exit status is the same with it.
"""

BENCH_EXAMPLES = """
examples:
  python -m runtime bench
  python -m runtime bench --models /media/sd/models --threads 4 --json > bench.json
  python -m runtime bench --batch-size 8 --runs 100     # a large model on a Raspberry Pi

Each artifact is measured on every installed backend that runs it, in a child process of
its own, next to the bare interpreter doing the same work on input already in the model's
type: the difference is what the runtime costs. Throughput is measured at batch 1, 32 and
a largest batch: 1000 or --batch-size, fewer when that many images would take more than
768 MiB in the runtime and the bare interpreter together (measured on the model: batch 32,
run twice, against batch 1, and at least the tensors' sizes). Without --runs, single-image latency
is sampled for about 2 s (20 to 2000 calls). An artifact that cannot be measured is skipped
with its reason, the others are measured, and the exit status is 1. Start-up compares
`python -m runtime predict digit.png` with `python -c "import numpy, <interpreter>"` as
whole processes.
"""

INFO_EXAMPLES = """
examples:
  python -m runtime info models/mnist_mlp_int8.tflite
  python -m runtime info models/mnist_mlp_float32.onnx --json
"""


SERVE_EXAMPLES = """
examples:
  python -m runtime serve models/web                  # then open the address it prints on a phone
  python -m runtime serve models/web --port 8080 --host 127.0.0.1
  python -m runtime serve models/web --https         # the phone's live camera needs https

Serves the folder `python -m convert web` wrote (DIR/web) with Python's own HTTP server. By
default it listens on every network of this computer, so that a phone on the same Wi-Fi can
open http://<this computer's address>:PORT/; the page then runs the model in the phone's
browser, and nothing is uploaded. It says at start which files are readable and by whom;
--host 127.0.0.1 keeps it to this computer. Only regular files inside DIR are served (no
dotfiles, listings or links out of it); slow or oversized requests are cut off. Any other
static server serves the folder as well, if it sends .js and .mjs files as JavaScript
(browsers refuse to run modules otherwise).
"""

DOCTOR_EXAMPLES = """
examples:
  python -m runtime doctor
  python -m runtime doctor --json
  unzip -p edge_mnist-0.1.0-py3-none-any.whl runtime/doctor.py | python3 -   # before installing

Says what this device is (architecture, OS, Python, glibc, numpy, Pillow, the interpreter
packages) and prints the pip line that installs a working runtime here, from the wheels each
interpreter package publishes. Where pip has no onnxruntime wheel (32-bit ARM), the line takes
Debian's python3-onnxruntime from apt when this system's apt lists have it (Debian 13 does).
Otherwise it says why nothing installs, and what it could not check. Exit status 1 when
nothing will run here.
"""


WATCH_EXAMPLES = """
examples:
  python -m runtime watch clip.avi
  python -m runtime watch frames/ --json > frames.jsonl
  python -m runtime watch /dev/video0 --stride 2 --threads 4
  python -m runtime watch picamera2 --limit 300

Every frame is prepared as `predict` prepares an image file (the model's input contract) and
classified. Text output: a line when the label or its unsure mark changes, with frames/s;
--json: one JSON object per frame (frame, time, label or null with the reason, confidence,
low_confidence, probabilities). Ctrl+C or the end of the stream prints the summary: frames,
frames/s, p50/p95 latency of reading, preparing and classifying a frame (with --json, as one
JSON object on stderr). Video files and cameras need the readers: pip install "edge-mnist[camera]";
picamera2 comes with Raspberry Pi OS (python3-picamera2; a venv needs --system-site-packages).
Exit status 1 when the stream broke (a camera unplugged), 2 when it could not be opened.
"""


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, width=100)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in 0..1, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text}")
    return value


def _threads(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"expected 1..{MAX_THREADS} interpreter threads, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0..65535 (0: any free port), got {text}")
    return value


def _frame_size(text: str) -> tuple:
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text}")
    return int(width), int(height)


def model_options(sub) -> None:
    """--model, --models and --min-confidence: which model answers, and when an answer is unsure
    (predict and watch take them alike)."""
    sub.add_argument("--model", default=None, metavar="PATH",
                     help="model file (default: the int8 .tflite listed in DIR/manifest.json)")
    sub.add_argument("--models", default="models", metavar="DIR",
                     help="folder whose manifest names the default model (default: models)")
    sub.add_argument("--min-confidence", type=_fraction, default=DEFAULT_MIN_CONFIDENCE, metavar="P",
                     help="mark answers whose probability is below P as unsure (default: "
                     f"{DEFAULT_MIN_CONFIDENCE}: on photos of digits it marks 2/3 of the wrong answers, 9%% of the right ones)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runtime",
        description="Run exported image classifiers without TensorFlow: predict classes of image files,\n"
        "check every artifact's parity with the Keras model, benchmark them, inspect a model file,\n"
        "serve the web page of `python -m convert web`.",
        formatter_class=_formatter,
        epilog="Run `python -m runtime COMMAND --help` for each command's options and examples.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sub):
        sub.add_argument("--backend", choices=BACKENDS,
                         help="interpreter to use (default: ai-edge-litert, else tflite-runtime, for .tflite; onnxruntime for .onnx; "
                              "tflite-micro, TFLite Micro's own interpreter on x86_64, for the batch-1 models of `python -m convert micro`, "
                              "which parity runs on it when it is installed; c, the C engine of `convert micro` (micro/NAME.c) built "
                              "by this machine's C compiler, $CC or cc, once, and cached)")
        sub.add_argument("--threads", type=_threads, default=None, metavar="N",
                         help=f"interpreter threads, 1..{MAX_THREADS} (default: the interpreter's)")
        sub.add_argument("--no-verify", action="store_true", help="load files whose sha256 differs from the manifest")
        sub.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")
        sub.add_argument("--verbose", action="store_true", help="show the interpreters' own status lines on stderr")

    predict = commands.add_parser("predict", help="classify image files", epilog=PREDICT_EXAMPLES,
                                  formatter_class=_formatter,
                                  description="Classify PNG/JPEG/BMP files, or folders of them, with an exported model.")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders")
    model_options(predict)
    predict.add_argument("--top", type=_positive_int, default=1, metavar="K", help="show the K most likely classes (default: 1)")
    predict.add_argument("--save-normalized", default=None, metavar="DIR",
                         help="write the image each file became, as the model saw it, to DIR/<name>.png (default: not written)")
    common(predict)

    parity = commands.add_parser("parity", help="check every artifact against the Keras model", epilog=PARITY_EXAMPLES,
                                 formatter_class=_formatter,
                                 description="Check every artifact of a manifest against the trained Keras model, or one\n"
                                 "file alone with the golden set it carries.")
    parity.add_argument("file", nargs="?", default=None, metavar="FILE",
                        help="check this .tflite or .onnx file alone, with its golden set (default: every artifact of --models)")
    parity.add_argument("--models", default="models", metavar="DIR", help="folder with manifest.json (default: models)")
    parity.add_argument("--report", default=None, metavar="DIR",
                        help="also write an HTML report with figures (DIR/index.html) and a model card (DIR/model_card.md); "
                             "needs matplotlib (default: no report)")
    common(parity)
    limits = parity.add_argument_group("limits (default: those each artifact was converted with, from the manifest)")
    limits.add_argument("--max-drop", type=_non_negative, default=None, metavar="PP",
                        help="lossy artifacts (int8, float16, dynamic): FAIL when the reference images show an accuracy "
                        "loss against Keras beyond PP percentage points (default: as converted, else 1)")
    limits.add_argument("--float-max-dp", type=_non_negative, default=None, metavar="X",
                        help="float32 artifacts: the largest |Δp| allowed (default: as converted, else 1e-4)")

    bench = commands.add_parser("bench", help="measure size, load time, latency, throughput, memory", epilog=BENCH_EXAMPLES,
                                formatter_class=_formatter,
                                description="Benchmark every artifact of a manifest on every installed backend.")
    bench.add_argument("--models", default="models", metavar="DIR", help="folder with manifest.json (default: models)")
    bench.add_argument("--threads", type=_threads, default=None, metavar="N",
                       help=f"interpreter threads, 1..{MAX_THREADS} (default: the interpreter's)")
    bench.add_argument("--runs", type=_positive_int, default=None, metavar="N",
                       help="single-image latency samples after warm-up (default: as many as fit 2 s, 20 to 2000)")
    bench.add_argument("--batch-size", type=_positive_int, default=None, metavar="N",
                       help="the largest batch measured (default: 1000), fewer when that many images would take more "
                            "than 768 MiB on the model (the runtime's and the bare interpreter's together)")
    bench.add_argument("--no-startup", action="store_true", help="skip the whole-process start-up comparison")
    bench.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")

    info = commands.add_parser("info", help="describe a model file", epilog=INFO_EXAMPLES, formatter_class=_formatter,
                               description="Inputs, outputs, dtypes, quantization, size and the backend that runs a model\n"
                               "file; its input contract and labels, and what the file itself carries.")
    info.add_argument("model", metavar="MODEL", help=".tflite or .onnx file")
    common(info)

    serve = commands.add_parser("serve", help="serve the web page of `python -m convert web`", epilog=SERVE_EXAMPLES,
                                formatter_class=_formatter,
                                description="Serve the folder `python -m convert web` wrote, for a browser on this computer\n"
                                "or a phone on the same network.")
    serve.add_argument("folder", metavar="DIR", help="the page's folder (DIR/web of a models folder)")
    serve.add_argument("--port", type=_port, default=8000, metavar="P", help="port (default: 8000; 0: any free port)")
    serve.add_argument("--host", default="0.0.0.0", metavar="ADDRESS",
                       help="address to listen on (default: 0.0.0.0, every network: a phone can reach it; "
                            "127.0.0.1: this computer only)")
    serve.add_argument("--verbose", action="store_true", help="log every request on stderr")
    serve.add_argument("--https", action="store_true",
                       help="serve over https, which a phone's browser needs to open the live camera (default: http); "
                            "with a self-signed certificate kept in ~/.cache/edge-mnist/https unless --cert/--key are given")
    serve.add_argument("--cert", default=None, metavar="PEM", help="certificate for --https (default: self-signed)")
    serve.add_argument("--key", default=None, metavar="PEM", help="private key of --cert")

    watch = commands.add_parser("watch", help="classify the frames of a video, a folder or a camera", epilog=WATCH_EXAMPLES,
                                formatter_class=_formatter,
                                description="Classify every frame of a video file, a folder of images, a V4L2 camera or the\n"
                                "Raspberry Pi camera, and time each stage.")
    watch.add_argument("source", metavar="SOURCE", help="video file, folder of images, /dev/videoN (or N), or picamera2")
    model_options(watch)
    watch.add_argument("--stride", type=_positive_int, default=1, metavar="N", help="classify every N-th frame (default: 1, all)")
    watch.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                       help="stop after N classified frames (default: at the end of the stream)")
    watch.add_argument("--size", type=_frame_size, default=(640, 480), metavar="WxH",
                       help="frame size asked of a camera (default: 640x480; files keep their own)")
    common(watch)

    doctor = commands.add_parser("doctor", help="say what this device can run and how to install it", epilog=DOCTOR_EXAMPLES,
                                 formatter_class=_formatter,
                                 description="What this device is, and the install line that works on it (or why none will).")
    doctor.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")
    return parser


def main(argv=None) -> int:
    with terminal_output():  # nothing read from a file (a label, a file name) can command the terminal
        return _run(build_parser().parse_args(argv))


def _run(args) -> int:
    from .errors import ToolkitError

    try:
        if args.command == "doctor":  # standard library only, so it also runs from the wheel before anything is installed
            from .doctor import run as doctor

            return doctor(as_json=args.json)
        try:
            command = importlib.import_module(f".apps.{args.command}", __package__)
        except ImportError as err:
            if getattr(err, "name", None) != "numpy" and "numpy" not in str(err):
                raise
            print(f"error: the runtime needs numpy, which cannot be imported here ({err}): pip install numpy; "
                  "`python -m runtime doctor` says what this device can run", file=sys.stderr)
            return 2
        return command.run(args)
    except (ToolkitError, ValueError, OSError) as err:  # what the commands did not report themselves
        print(f"error: {for_terminal(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
