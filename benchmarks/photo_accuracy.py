"""Accuracy on photo-like digits: real MNIST test digits (the reference bundle's) written on
generated phone photos (tests/photos.py), one degradation at a time and all mixed, read as
`python -m runtime predict` reads a file (grayscale as Pillow converts it, then
runtime.preprocess.digits.normalize_digit), and classified by a model artifact. Device side: no TensorFlow.

    python benchmarks/photo_accuracy.py [--models DIR] [--model PATH] [--count N] [--confidence] [--json]
    python benchmarks/photo_accuracy.py --speed     # ms per image: a 600x800 and a 12-megapixel JPEG

Two splits that share nothing: "tune" (the first half of the reference digits, generator
seeds 1000+, the "tune" family of mixed settings) is what the normalisation was developed
on; "held-out" (the second half, seeds 2000+, the "held-out" family: other inks, paper,
sizes, lighting shapes, pens, blur) was only measured. Within a split every case shows the
same digits, so a degradation is compared with the same digits on clean paper.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import runtime  # noqa: E402
from photos import CASES, case_style, random_style, render_photo  # noqa: E402
from runtime.errors import ToolkitError  # noqa: E402
from runtime.store.bundles import load_reference  # noqa: E402

ROWS = CASES + ("mixed",)
SEEDS = {"tune": 1000, "held-out": 2000}
"""A split's digits are drawn with seed SEEDS[split]; row k's photos with SEEDS[split] + 1 + k."""
THRESHOLDS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class Row:
    """One case in one split."""

    case: str
    split: str
    count: int = 0
    right: int = 0
    refused: int = 0
    confidences: list = field(default_factory=list)
    """(confidence, right) of every answered photo."""

    @property
    def accuracy(self) -> float:
        """Right answers over all photos (a refusal counts as wrong; for two_digits: refusals)."""
        return (self.refused if self.case == "two_digits" else self.right) / max(self.count, 1)


def split_digits(reference, split: str) -> np.ndarray:
    half = len(reference.labels) // 2
    return np.arange(0, half) if split == "tune" else np.arange(half, len(reference.labels))


def load_normalizer(spec: str):
    """'runtime' or PATH.py:FUNCTION (e.g. an earlier version of the normalisation)."""
    if spec == "runtime":
        from runtime.preprocess.digits import normalize_digit

        return normalize_digit
    path, _, name = spec.rpartition(":")
    module_spec = importlib.util.spec_from_file_location("normalizer_under_test", path)
    if module_spec is None or not name:
        raise SystemExit(f"error: --normalizer: expected runtime or PATH.py:FUNCTION, got {spec!r}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, name)


def measure(reference, model, normalize, case: str, split: str, count: int) -> tuple:
    """(Row, seconds spent normalising)."""
    digits = np.random.default_rng(SEEDS[split]).choice(split_digits(reference, split), count, replace=False)
    rng = np.random.default_rng(SEEDS[split] + 1 + ROWS.index(case))
    row, seconds = Row(case, split), 0.0
    images, labels = [], []
    for j, i in enumerate(digits):
        style = random_style(rng, split) if case == "mixed" else case_style(case, rng)
        photo = render_photo(reference.images[i], style, rng, second=reference.images[digits[(j + 1) % count]])
        gray = np.asarray(Image.fromarray(photo).convert("L"), dtype=np.float32)
        row.count += 1
        start = time.perf_counter()
        try:
            images.append(normalize(gray))
            labels.append(reference.labels[i])
        except ValueError:
            row.refused += 1
        seconds += time.perf_counter() - start
    if images:
        probs = model.predict(np.stack(images))
        right = probs.argmax(1) == np.asarray(labels)
        row.right = int(right.sum())
        row.confidences = list(zip(probs.max(1).tolist(), right.tolist()))
    return row, seconds


def confidence_table(rows) -> list:
    """For each threshold: the share of wrong answers it flags and of right answers it flags."""
    pairs = [p for r in rows if r.case != "two_digits" for p in r.confidences]
    right = np.array([c for c, ok in pairs if ok])
    wrong = np.array([c for c, ok in pairs if not ok])
    table = []
    for t in THRESHOLDS:
        table.append({"threshold": t, "wrong_flagged": float((wrong < t).mean()) if len(wrong) else 0.0,
                      "right_flagged": float((right < t).mean()) if len(right) else 0.0,
                      "answers": len(pairs), "wrong": len(wrong)})
    return table


SPEED_SIZES = ((800, 600), (4000, 3000))
SPEED_RUNS = 15


def speed(reference, folder: Path) -> list:
    """Median milliseconds to read (runtime.preprocess.images.read_grayscale) and normalise
    (runtime.preprocess.digits.normalize_digit) a JPEG photo of a digit, per size."""
    from dataclasses import replace

    from runtime.preprocess.digits import normalize_digit
    from runtime.preprocess.images import read_grayscale

    rows = []
    for height, width in SPEED_SIZES:
        rng = np.random.default_rng(height)
        style = replace(case_style("vignette", rng), height=height, width=width)
        path = folder / f"speed_{width}x{height}.jpg"
        Image.fromarray(render_photo(reference.images[0], style, rng)).save(path, quality=90)
        read, normalise = [], []
        for _ in range(SPEED_RUNS):
            start = time.perf_counter()
            gray = read_grayscale(path)
            middle = time.perf_counter()
            normalize_digit(gray)
            read.append(middle - start)
            normalise.append(time.perf_counter() - middle)
        rows.append({"size": f"{width}x{height}", "read_ms": 1000 * float(np.median(read)),
                     "normalize_ms": 1000 * float(np.median(normalise))})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="models", help="folder with reference.npz (default: models)")
    parser.add_argument("--model", default=None, help="artifact to run (default: MODELS/mnist_mlp_int8.tflite)")
    parser.add_argument("--count", type=int, default=200, help="photos per case and split (default: 200)")
    parser.add_argument("--splits", nargs="+", choices=list(SEEDS), default=list(SEEDS), help="(default: both)")
    parser.add_argument("--cases", nargs="+", choices=list(ROWS), default=list(ROWS), help="(default: all)")
    parser.add_argument("--normalizer", default="runtime", help="runtime, or PATH.py:FUNCTION to measure another")
    parser.add_argument("--confidence", action="store_true", help="also: how often each --min-confidence flags right and wrong answers")
    parser.add_argument("--speed", action="store_true", help="only time reading and normalising a 600x800 and a 4000x3000 JPEG")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    models = Path(args.models)
    try:
        reference = load_reference(models)
    except ToolkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.speed:
        import platform
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            rows = speed(reference, Path(folder))
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        print(f"{platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}; median of {SPEED_RUNS} runs")
        print(f"{'photo (JPEG)':14}{'read ms':>10}{'normalise ms':>15}{'total ms':>11}")
        for r in rows:
            print(f"{r['size']:14}{r['read_ms']:>10.1f}{r['normalize_ms']:>15.1f}{r['read_ms'] + r['normalize_ms']:>11.1f}")
        return 0
    model = runtime.load(args.model or models / "mnist_mlp_int8.tflite")
    normalize = load_normalizer(args.normalizer)

    rows, seconds = [], 0.0
    for case in args.cases:
        for split in args.splits:
            row, spent = measure(reference, model, normalize, case, split, args.count)
            rows.append(row)
            seconds += spent
            if not args.json:
                print(f"  {case} {split}: {row.accuracy:.3f}", file=sys.stderr, flush=True)
    plain = {split: float((model.predict(reference.images[split_digits(reference, split)]).argmax(1)
                           == reference.labels[split_digits(reference, split)]).mean()) for split in args.splits}
    per_image_ms = 1000 * seconds / max(sum(r.count for r in rows), 1)
    report = {
        "model": str(model.path), "count": args.count, "normalizer": args.normalizer,
        "mnist_28x28": plain, "normalize_ms": per_image_ms,
        "rows": [{"case": r.case, "split": r.split, "accuracy": r.accuracy, "refused": r.refused, "count": r.count}
                 for r in rows],
    }
    if args.confidence:
        report["confidence"] = confidence_table(rows)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"Model: {model.path}; {args.count} photos per case and split; normalizer: {args.normalizer}")
    header = f"{'case':14}" + "".join(f"{split:>12}{'refused':>9}" for split in args.splits)
    print(header + "\n" + "-" * len(header))
    print(f"{'28x28 MNIST':14}" + "".join(f"{plain[s]:>12.3f}{'':>9}" for s in args.splits))
    for case in args.cases:
        line = f"{case:14}"
        for split in args.splits:
            r = next(r for r in rows if r.case == case and r.split == split)
            line += f"{r.accuracy:>12.3f}{r.refused:>9}"
        print(line)
    print("(two_digits: share refused, the right answer; other rows: share right, a refusal counts as wrong)")
    print(f"Normalisation: {per_image_ms:.1f} ms per photo on average")
    if args.confidence:
        print("\n--min-confidence  wrong answers flagged  right answers flagged  (all answered photos, both splits)")
        for t in report["confidence"]:
            print(f"{t['threshold']:<16.1f}  {t['wrong_flagged']:>21.1%}  {t['right_flagged']:>21.1%}")
        print(f"({report['confidence'][0]['answers']} answers, {report['confidence'][0]['wrong']} wrong)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
