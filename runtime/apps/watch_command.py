"""The body of `python -m runtime watch SOURCE`: opens the model and the frame source, prints
one line per change (or one JSON object per frame with --json) and the summary at the end."""

from __future__ import annotations

import json
import os
import sys

from .commands import SETUP_ERRORS, default_model, model_summary
from .frames import FrameSourceError, SourceOptions, open_source
from ..model import load
from .watch import ChangePrinter, WatchOptions, frame_mode, watch


def run_watch(args) -> int:
    """0 at the end of the stream, the frame limit or Ctrl-C; 1 when the stream broke; 2 when it
    could not start. The summary is printed in every case that started (with --json: as one JSON object on stderr)."""
    try:
        model = load(args.model or default_model(args.models), backend=args.backend, num_threads=args.threads,
                     verify_checksum=not args.no_verify, quiet=not args.verbose)
    except SETUP_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        source = open_source(args.source, SourceOptions(mode=frame_mode(model.contract), stride=args.stride,
                                                        size=args.size))
    except FrameSourceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    described = source.describe()
    if not args.json:
        print(f"Watching {described} with {model_summary(model)}; Ctrl+C stops.", flush=True)
    emit = print_json if args.json else ChangePrinter(args.min_confidence, sys.stdout)
    with source:
        summary = watch(model, source, WatchOptions(min_confidence=args.min_confidence, limit=args.limit), emit)
    if summary.stopped == "output closed":  # `watch --json | head`: nothing more can be written there
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if summary.error:
        print(f"error: {summary.error}", file=sys.stderr)
    if args.json:  # stdout holds only the frames' objects
        print(json.dumps({"summary": summary.to_json(), "model": str(model.path)}), file=sys.stderr, flush=True)
    else:
        out = sys.stderr if summary.stopped == "output closed" else sys.stdout
        print(summary.format(described), file=out, flush=True)
    return 1 if summary.error else 0


def print_json(result: dict, summary) -> None:
    """One JSON object per frame, on a line of its own (JSON Lines), flushed at once."""
    print(json.dumps(result), flush=True)
