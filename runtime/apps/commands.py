"""The bodies of `python -m runtime` commands: each takes the parsed arguments, prints,
and returns the exit status (0 ok, 1 a check or a file failed, 2 could not start)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import BackendUnavailableError, ManifestError, ModelFileError, one_line
from ..store.layout import MANIFEST_NAME, REFERENCE_NAME
from ..model import load
from ..tables import plural

SETUP_ERRORS = (BackendUnavailableError, ManifestError, ModelFileError)


def _fail(err) -> int:
    print(f"error: {err}", file=sys.stderr)
    return 2


def predict(args) -> int:
    from ..preprocess.images import ImageError, expand_paths, prepare_image

    try:
        model = load(args.model or default_model(args.models), backend=args.backend, num_threads=args.threads,
                     verify_checksum=not args.no_verify, quiet=not args.verbose)
    except SETUP_ERRORS as err:
        return _fail(err)
    if not args.model and not args.json:
        from ..store.rejections import fallback_note

        note = fallback_note(args.models, model.path)
        if note:
            print(note, file=sys.stderr)
    if not 1 <= args.top <= len(model.labels):
        return _fail(f"--top must be 1..{len(model.labels)} (the model's classes), got {args.top}")
    paths = expand_paths(args.images)
    if not paths:
        return _fail(f"no image files found in {' '.join(args.images)}")
    try:
        saved = ModelInputs(args.save_normalized) if args.save_normalized else None
    except OSError as err:
        return _fail(f"--save-normalized {args.save_normalized}: cannot create the folder ({one_line(err)})")
    preparation = model.contract.describe_preprocessing()
    if not args.json:
        print(f"Model: {model_summary(model)}", file=sys.stderr)
    if not args.json and model.contract.preprocessing != "mnist-digit":
        print(f"Each image is {preparation}.", file=sys.stderr)
    results, failed, warned_scores = [], 0, False
    for path in paths:
        notes = []
        try:
            image = prepare_image(path, model.contract, notes)
            probs = model.predict(image)[0]
            written = saved.write(path, image) if saved else None
        except (ImageError, ImportError) as err:
            failed += 1
            results.append({"file": str(path), "error": str(err)})
            if not args.json:
                print(f"error: {err}", file=sys.stderr)
            continue
        result = describe_prediction(probs, model.labels, args.top, args.min_confidence)
        if not result["probabilities_shown"] and not warned_scores:
            warned_scores = True
            print(f"note: {model.path.name} outputs scores that are not probabilities (a row sums to "
                  f"{float(sum(probs)):.4g}, values {float(min(probs)):.4g}..{float(max(probs)):.4g}): shown as raw "
                  "scores, not percentages, and --min-confidence does not apply", file=sys.stderr)
        result = {"file": str(path), **result}
        if notes:
            result["notes"] = notes
            if not args.json:
                for note in notes:
                    print(f"note: {note}", file=sys.stderr)
        if written:
            result["normalized"] = str(written)
        results.append(result)
        if not args.json:
            print(f"{path}: {format_prediction(result, args.min_confidence)}")
    if args.json:
        print(json.dumps({"model": str(model.path), "backend": model.backend.name, "preprocessing": preparation,
                          "min_confidence": args.min_confidence, "results": results}, indent=2))
    elif saved and saved.written:
        print(f"Images as the model saw them: {len(saved.written)} in {args.save_normalized}")
    return 1 if failed else 0


PROBABILITY_SUM_TOLERANCE = 0.02
"""A row of outputs is shown as probabilities when its values lie in 0..1 and sum to 1 within
this plus one int8 step (1/256) per class."""


def are_probabilities(probs) -> bool:
    """Whether one row of model outputs reads as class probabilities (not logits or scores)."""
    values = [float(v) for v in probs]
    slack = PROBABILITY_SUM_TOLERANCE + len(values) / 256
    return all(-1e-6 <= v <= 1 + 1e-6 for v in values) and abs(sum(values) - 1) <= slack


def describe_prediction(probs, labels, top: int, min_confidence: float) -> dict:
    """The best class, its probability, the `top` best, every class's probability, and
    whether the best is below `min_confidence`. Outputs that are not probabilities (logits)
    keep their order, with `confidence` and `low_confidence` None and the raw `score`s."""
    order = sorted(range(len(probs)), key=lambda k: -float(probs[k]))
    best = order[0]
    if not are_probabilities(probs):
        return {
            "label": labels[best], "confidence": None, "low_confidence": None, "probabilities_shown": False,
            "score": float(probs[best]),
            "top": [{"label": labels[k], "confidence": None, "score": float(probs[k])} for k in order[:top]],
            "scores": {labels[k]: float(probs[k]) for k in range(len(probs))},
        }
    return {
        "label": labels[best],
        "confidence": float(probs[best]),
        "low_confidence": bool(probs[best] < min_confidence),
        "probabilities_shown": True,
        "top": [{"label": labels[k], "confidence": float(probs[k])} for k in order[:top]],
        "probabilities": {labels[k]: float(probs[k]) for k in range(len(probs))},
    }


def format_prediction(result: dict, min_confidence: float) -> str:
    """`7 (93.1%)`, with --top 3 `7 (93.1%), 1 (4.0%), 9 (1.2%)`, and `  [unsure: below 60%]` when low;
    outputs that are not probabilities: `7 (score 35.67)`."""
    if not result.get("probabilities_shown", True):
        return ", ".join(f"{t['label']} (score {t['score']:.4g})" for t in result["top"])
    text = ", ".join(f"{t['label']} ({t['confidence']:.1%})" for t in result["top"])
    if result["low_confidence"]:
        text += f"  [unsure: below {min_confidence:.0%}]"
    return text


class ModelInputs:
    """Writes the image each input became (the model's input) as DIR/<stem>.png; a stem already written in this run
    gets -2, -3 ..., so no image replaces another (each file is written whole or not at all)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.written = {}
        """File name in the folder -> the input it shows."""

    def write(self, source, image) -> Path:
        from PIL import Image

        from ..errors import ImageError
        from ..store.files import atomic_path

        stem = Path(source).stem or "image"
        name, n = f"{stem}.png", 1
        while name in self.written:
            n += 1
            name = f"{stem}-{n}.png"
        target = self.folder / name
        try:
            with atomic_path(target) as tmp:
                Image.fromarray(image.squeeze(-1) if image.shape[-1:] == (1,) else image).save(tmp, format="PNG")
        except OSError as err:
            raise ImageError(f"{source}: its normalised image could not be written to {target} ({one_line(err)})") from err
        self.written[name] = str(source)
        return target


SHOWN_LABELS = 10
"""model_summary names this many classes, then "...": MNIST's ten digits, or the first of yours."""


def model_summary(model) -> str:
    """The model that answers, in one line: its path, backend, what it was trained on and its
    classes, so that an image of yours predicted by the MNIST model (no --model) is seen as such."""
    labels = ", ".join(model.labels[:SHOWN_LABELS]) + (", ..." if len(model.labels) > SHOWN_LABELS else "")
    trained = f", trained on {model.entry.dataset}" if model.entry is not None and model.entry.dataset else ""
    count = len(model.labels)
    return f"{model.path} ({model.backend.name}{trained}; {count} {plural(count, 'class', 'classes')}: {labels})"


def default_model(models_dir) -> str:
    """The model `predict` uses without --model: the manifest's int8 TFLite artifact, else
    its first exported one."""
    from ..store.manifest import read_manifest

    manifest = read_manifest(models_dir)
    exported = manifest.exported
    if not exported:
        raise ManifestError(f"{Path(models_dir) / MANIFEST_NAME} lists no exported model: run `python -m convert all` first")
    preferred = [a for a in exported if a.format == "tflite" and a.precision == "int8"] or exported
    return str(Path(models_dir) / preferred[0].path)


def parity(args) -> int:
    from ..evaluate.parity import check_models
    from ..evaluate.platform_info import describe_platform
    from ..tables import parity_table
    from ..verdict import Limits

    limits = None
    if args.max_drop is not None or args.float_max_dp is not None:
        default = Limits()
        limits = Limits(max_drop=default.max_drop if args.max_drop is None else args.max_drop / 100,
                        float_max_dp=default.float_max_dp if args.float_max_dp is None else args.float_max_dp)
    if args.report:
        from .report import ReportDependencyError, require_matplotlib

        try:
            require_matplotlib()  # before the work, so a device without it fails at once
        except ReportDependencyError as err:
            return _fail(err)
    try:
        report = check_models(args.models, limits, backend=args.backend, num_threads=args.threads,
                              verify_checksum=not args.no_verify, keep_outputs=bool(args.report), quiet=not args.verbose)
    except SETUP_ERRORS as err:
        return _fail(err)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print("Platform: " + describe_platform(report.platform))
        labelled = "" if report.reference.has_labels else " (no labels: agreement only)"
        print(f"Reference: {len(report.reference.images)} held-out {plural(len(report.reference.images), 'image')} in {Path(args.models) / REFERENCE_NAME}{labelled}\n")
        print(parity_table(report.results, report.reference, skipped=report.skipped))
        if not report.results:
            print("\nNo artifact could be run: install an interpreter package (see skipped).")
        else:
            print(f"\n{'PASS' if report.passed else 'FAIL'}: {sum(r.passed for r in report.results)} of {len(report.results)} {plural(len(report.results), 'artifact')} passed")
    if args.report:
        from .report import ReportOptions, write_report

        options = ReportOptions(limits=limits, num_threads=args.threads, verify_checksum=not args.no_verify)
        try:
            files = write_report(report, args.report, options)
        except (OSError, ValueError) + SETUP_ERRORS as err:
            return _fail(f"report not written: {err}")
        print(f"Report: {files.html} ({len(files.figures)} figures beside it), model card: {files.card}",
              file=sys.stderr if args.json else sys.stdout)
    return 0 if report.passed else 1


def bench(args) -> int:
    from .bench import bench_models, format_report

    progress = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        report = bench_models(args.models, threads=args.threads, runs=args.runs, startup=not args.no_startup, log=progress,
                              batch_size=args.batch_size)
    except SETUP_ERRORS as err:
        return _fail(err)
    print(json.dumps(report.to_json(), indent=2) if args.json else format_report(report))
    return 1 if report.skipped else 0


def info(args) -> int:
    from ..tables import format_size

    try:
        model = load(args.model, backend=args.backend, num_threads=args.threads, verify_checksum=not args.no_verify,
                     quiet=not args.verbose)
    except SETUP_ERRORS as err:
        return _fail(err)
    data = model.describe()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{data['path']}  {format_size(data['bytes'])}  runs on {data['backend']}")
    for role in ("input", "output"):
        t = data[role]
        quant = f"  scale {t['scale']:.6g}, zero point {t['zero_point']}" if "scale" in t else ""
        print(f"  {role:6}  {t['name']}  {t['dtype']}{t['shape']}{quant}")
    print(f"  contract: {model.contract.describe()} ({data['contract_source']})")
    if model.takes_pixels:
        print("  the scaling is inside the model: it takes the uint8 pixels as they are")
    print(f"  images: {data['preprocessing']}")
    print(f"  labels: {' '.join(data['labels'])}")
    embedded = data["embedded"]
    if embedded is None:
        print("  in the file: no contract or labels")
    else:
        carried = [what for what, value in (("contract", embedded["contract"]), (f"{len(embedded['labels'] or [])} {plural(len(embedded['labels'] or []), 'label')}", embedded["labels"])) if value]
        print(f"  in the file: {' and '.join(carried)} ({embedded['where']})")
    entry = data["manifest"]
    if entry is None:
        print("  manifest: not listed")
    else:
        metrics = entry["metrics"]
        checked = "not checked (--no-verify)" if args.no_verify else "verified"
        line = f"  manifest: {entry['precision']}, sha256 {entry['sha256'][:12]}… {checked}"
        if metrics.get("agreement") is not None:
            accuracy = f"accuracy {metrics['accuracy']:.4f}, " if metrics.get("accuracy") is not None else ""
            line += f", {accuracy}agreement {metrics['agreement']:.2%} at conversion"
        print(line)
    return 0


def serve(args) -> int:
    from .serve import ServeError, ServeOptions
    from .serve import serve as serve_folder

    try:
        serve_folder(ServeOptions(folder=args.folder, host=args.host, port=args.port, verbose=args.verbose,
                                  https=args.https or bool(args.cert), cert=args.cert, key=args.key))
    except ServeError as err:
        return _fail(err)
    return 0


def doctor(args) -> int:
    from ..doctor import run

    return run(as_json=args.json)
