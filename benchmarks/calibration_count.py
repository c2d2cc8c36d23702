"""How many calibration images int8 needs: the accuracy change and top-1 agreement with Keras
against the number of calibration images, for TFLite int8 (TensorFlow's post-training
quantization, as convert/tflite_export.py calls it: per-channel, int8 in and int8 ops) and
ONNX int8 (onnxruntime's quantize_static, as convert/onnx_export.quantize_onnx calls it),
judged through the runtime on held-out images the calibration never saw.

Each count draws `--repeats` random subsets of the calibration pool (training images), so the
spread shows how much the choice of images matters at that count. Training side; slow (tens of
minutes for the zoo): run it niced.

    nice python benchmarks/calibration_count.py [--models mlp,cnn,mobilenet_v2,resnet,separable]
        [--counts 25,50,100,200,500,1000,2000] [--repeats 3] [--work DIR] [--json]

mlp and cnn are `python -m train --dataset mnist-5k` (2,000 training images kept for
calibration, 1,000 held-out test digits); the others are tests/zoo.py's architectures trained
on its shapes, with 2,100 fresh training-distribution pictures to calibrate and 1,002 held out.
Trained models are kept in --work and reused.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

MNIST_MODELS = ("mlp", "cnn")
ZOO_MODELS = ("mobilenet_v2", "resnet", "separable", "efficientnet_b0")
DEFAULT_COUNTS = (25, 50, 100, 200, 500, 1000, 2000)
ZOO_CALIBRATION_PER_CLASS = 700
"""2,100 pictures drawn from the training distribution (not the training pictures themselves)."""
ZOO_HELD_OUT_PER_CLASS = 334
"""1,002 held-out pictures."""


@dataclass
class Row:
    model: str
    format: str
    count: int
    repeat: int
    delta_pp: float
    """int8 accuracy minus Keras accuracy on the held-out images, in percentage points."""
    agreement: float
    """Share of held-out images where int8's top-1 is Keras's."""
    seconds: float


@dataclass
class Subject:
    """A trained model with its calibration pool and held-out images."""

    name: str
    model: object
    contract: object
    pool: np.ndarray
    """uint8 training-distribution images to calibrate from."""
    images: np.ndarray
    labels: np.ndarray
    keras_top1: np.ndarray


def mnist_subject(name: str, work: Path) -> Subject:
    from convert.keras_file import load_keras
    from runtime.store.folder import ModelsFolder

    folder = work / name
    if not ModelsFolder.holds_manifest(folder):
        command = [sys.executable, "-m", "train", "--model", name, "--dataset", "mnist-5k", "--models", str(folder)]
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    models = ModelsFolder.open(folder)
    manifest = models.manifest
    model = load_keras(models.file(manifest.keras.path))
    reference = models.reference()
    return Subject(name, model, manifest.keras.contract, models.calibration_images(), reference.images,
                   reference.labels, reference.probs.argmax(1))


def zoo_subject(name: str, work: Path) -> Subject:
    import keras

    from runtime.contract import InputContract
    from zoo import CHANNELS, INPUT_SCALE, SIZE, shape_data, train_zoo_model

    path = work / f"{name}.keras"
    if not path.is_file():
        train_zoo_model(name, work)
    model = keras.models.load_model(path)
    channels = CHANNELS[name]
    contract = InputContract(image_shape=(SIZE, SIZE, channels), pixel_scale=INPUT_SCALE[name], preprocessing="resize")
    pool, _ = shape_data(channels, ZOO_CALIBRATION_PER_CLASS, seed=11)
    images, labels = shape_data(channels, ZOO_HELD_OUT_PER_CLASS, seed=12)
    probs = model.predict(contract.model_input(images), batch_size=128, verbose=0)
    return Subject(name, model, contract, pool, images, labels, probs.argmax(1))


def judged(subject: Subject, path: Path) -> tuple:
    """(accuracy change in pp, agreement) of the file at `path`, run through the runtime."""
    import runtime

    top1 = runtime.load(path, contract=subject.contract, isolate=False).predict(subject.images).argmax(1)
    delta = np.mean(top1 == subject.labels) - np.mean(subject.keras_top1 == subject.labels)
    return 100 * float(delta), float(np.mean(top1 == subject.keras_top1))


def measure(subject: Subject, counts, repeats: int, formats, log) -> list:
    from convert.onnx_export import export_onnx, quantize_onnx
    from convert.tflite_export import ARTIFACT_INT8_OUTPUT, tflite_bytes

    rows = []
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        float_onnx = work / "float.onnx"
        if "onnx" in formats:
            export_onnx(subject.model, float_onnx)
        for count in counts:
            if count > len(subject.pool):
                log(f"  {subject.name}: {count} calibration images asked, the pool has {len(subject.pool)}; skipped")
                continue
            for repeat in range(repeats if count < len(subject.pool) else 1):
                chosen = np.random.default_rng(repeat).choice(len(subject.pool), count, replace=False)
                calibration = subject.contract.model_input(subject.pool[np.sort(chosen)])
                for fmt in formats:
                    started = time.perf_counter()
                    path = work / f"int8.{fmt}"
                    if fmt == "tflite":
                        path.write_bytes(tflite_bytes(subject.model, "int8", calibration, True, quiet=True,
                                                      output_type=ARTIFACT_INT8_OUTPUT))
                    else:
                        quantize_onnx(float_onnx, path, calibration, per_channel=True)
                    delta, agreement = judged(subject, path)
                    row = Row(subject.name, fmt, count, repeat, delta, agreement, time.perf_counter() - started)
                    rows.append(row)
                    log(f"  {row.model} {row.format} {row.count:5d} images, draw {row.repeat}: "
                        f"{row.delta_pp:+.2f} pp, agreement {row.agreement:.2%} ({row.seconds:.1f} s)")
    return rows


def table(rows: list) -> str:
    """One line per model, format and count: the mean change and agreement over the draws, and
    their range."""
    lines = [f"{'model':16s} {'format':6s} {'images':>6s} {'Δ acc (pp) mean [min, max]':>28s} "
             f"{'agreement mean [min, max]':>28s}"]
    keys = sorted({(r.model, r.format, r.count) for r in rows}, key=lambda k: (k[0], k[1], k[2]))
    for model, fmt, count in keys:
        group = [r for r in rows if (r.model, r.format, r.count) == (model, fmt, count)]
        d = np.array([r.delta_pp for r in group])
        a = np.array([r.agreement for r in group]) * 100
        lines.append(f"{model:16s} {fmt:6s} {count:6d} {d.mean():+8.2f} [{d.min():+6.2f}, {d.max():+6.2f}]      "
                     f"{a.mean():7.2f}% [{a.min():6.2f}, {a.max():6.2f}]")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mlp,cnn,mobilenet_v2,resnet,separable",
                        help=f"comma-separated, of {', '.join(MNIST_MODELS + ZOO_MODELS)} (default: %(default)s)")
    parser.add_argument("--counts", default=",".join(map(str, DEFAULT_COUNTS)),
                        help="calibration image counts (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="random draws per count (default: %(default)s)")
    parser.add_argument("--formats", default="tflite,onnx", help="tflite, onnx or both (default: %(default)s)")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "calibration-count"),
                        help="where trained models are kept and reused (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON after the table")
    args = parser.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MNIST_MODELS + ZOO_MODELS]
    formats = [f for f in args.formats.split(",") if f]
    if unknown or not names or not formats or any(f not in ("tflite", "onnx") for f in formats) or args.repeats < 1:
        parser.error(f"--models: got {args.models!r}, --formats: {args.formats!r}, --repeats: {args.repeats}; expected "
                     f"names of {', '.join(MNIST_MODELS + ZOO_MODELS)}, formats tflite/onnx, repeats >= 1")
    try:
        counts = sorted({int(c) for c in args.counts.split(",") if c})
    except ValueError:
        parser.error(f"--counts: got {args.counts!r}, expected comma-separated whole numbers")
    if not counts or min(counts) < 1:
        parser.error(f"--counts: got {args.counts!r}, expected numbers >= 1")
    from train.quiet import quiet_tensorflow

    quiet_tensorflow()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        print(f"{name}: training or loading ...", flush=True)
        subject = mnist_subject(name, work) if name in MNIST_MODELS else zoo_subject(name, work)
        keras_accuracy = np.mean(subject.keras_top1 == subject.labels)
        print(f"{name}: Keras accuracy {keras_accuracy:.4f} on {len(subject.labels)} held-out images; "
              f"calibration pool {len(subject.pool)}", flush=True)
        rows += measure(subject, counts, args.repeats, formats, lambda line: print(line, flush=True))
    print()
    print(table(rows))
    if args.json:
        print(json.dumps([asdict(r) for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
