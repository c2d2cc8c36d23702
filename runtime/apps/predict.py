"""`python -m runtime predict IMAGE...`: each image file prepared as the model's input contract
says and classified (runtime.prediction), one line per file, or one JSON document; exit status
1 when any file could not be read or holds no single digit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import ImageError, one_line
from ..prediction import Prediction
from ..preprocess.images import expand_paths, prepare_image
from ..store.files import atomic_path
from ..untrusted import for_terminal
from .start import SETUP_ERRORS, fail, model_summary, open_model


def run(args) -> int:
    try:
        model, notes = open_model(args)
    except SETUP_ERRORS as err:
        return fail(err)
    for note in notes:
        print(note, file=sys.stderr)
    if not 1 <= args.top <= len(model.labels):
        return fail(f"--top must be 1..{len(model.labels)} (the model's classes), got {args.top}")
    paths = expand_paths(args.images)
    if not paths:
        return fail(f"no image files found in {' '.join(args.images)}")
    try:
        saved = ModelInputs(args.save_normalized) if args.save_normalized else None
    except OSError as err:
        return fail(f"--save-normalized {args.save_normalized}: cannot create the folder ({one_line(err)})")
    preparation = model.contract.describe_preprocessing()
    if not args.json:
        print(f"Model: {model_summary(model)}", file=sys.stderr)
    if not args.json and model.contract.preprocessing != "mnist-digit":
        print(f"Each image is {preparation}.", file=sys.stderr)
    results, failed, warned_scores = [], 0, False
    for path in paths:
        notes = []
        try:
            image = prepare_image(path, model, notes)
            probs = model.predict(image)[0]
            written = saved.write(path, image) if saved else None
        except (ImageError, ImportError) as err:
            failed += 1
            results.append({"file": str(path), "error": str(err)})
            if not args.json:
                print(f"error: {for_terminal(err)}", file=sys.stderr)
            continue
        prediction = Prediction.of(probs, model.labels, args.top, args.min_confidence)
        if not prediction.probabilities_shown and not warned_scores:
            warned_scores = True
            print(f"note: {model.path.name} outputs scores that are not probabilities (a row sums to "
                  f"{float(sum(probs)):.4g}, values {float(min(probs)):.4g}..{float(max(probs)):.4g}): shown as raw "
                  "scores, not percentages, and --min-confidence does not apply", file=sys.stderr)
        result = {"file": str(path), **prediction.to_json()}
        if notes:
            result["notes"] = notes
            if not args.json:
                for note in notes:
                    print(f"note: {for_terminal(note)}", file=sys.stderr)
        if written:
            result["normalized"] = str(written)
        results.append(result)
        if not args.json:
            print(f"{for_terminal(path)}: {for_terminal(prediction.format())}")
    if args.json:
        print(json.dumps({"model": str(model.path), "model_status": model.entry.status if model.entry else None,
                          "backend": model.backend.name, "preprocessing": preparation,
                          "min_confidence": args.min_confidence, "results": results}, indent=2))
    elif saved and saved.written:
        print(f"Images as the model saw them: {len(saved.written)} in {args.save_normalized}")
    return 1 if failed else 0


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
