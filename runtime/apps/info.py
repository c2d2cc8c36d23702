"""`python -m runtime info MODEL`: a model file's tensors, quantization, size and backend, its
input contract and labels, what the file itself carries, and its manifest entry."""

from __future__ import annotations

import json

from ..model import load
from ..tables import format_size, plural
from ..untrusted import for_terminal
from .start import SETUP_ERRORS, fail


def run(args) -> int:
    try:
        model = load(args.model, backend=args.backend, num_threads=args.threads, verify_checksum=not args.no_verify,
                     quiet=not args.verbose)
    except SETUP_ERRORS as err:
        return fail(err)
    data = model.describe()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{for_terminal(data['path'])}  {format_size(data['bytes'])}  runs on {data['backend']}")
    for role in ("input", "output"):
        t = data[role]
        quant = f"  scale {t['scale']:.6g}, zero point {t['zero_point']}" if "scale" in t else ""
        print(f"  {role:6}  {t['name']}  {t['dtype']}{t['shape']}{quant}")
    print(f"  contract: {model.contract.describe()} ({data['contract_source']})")
    if model.takes_pixels:
        print("  the scaling is inside the model: it takes the uint8 pixels as they are")
    print(f"  images: {data['preprocessing']}")
    print(f"  labels: {' '.join(map(for_terminal, data['labels']))}")
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
