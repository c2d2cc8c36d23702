"""How a command of `python -m runtime` starts: the model it runs (--model's file, else the
default of the --models folder, whose manifest is read once), and the errors that stop it
before any work, said in one line with exit status 2."""

from __future__ import annotations

import sys
from typing import Optional

from ..errors import BackendUnavailableError, ManifestError, ModelFileError
from ..model import Model, load, load_listed
from ..store.folder import ModelsFolder
from ..tables import plural
from ..untrusted import for_terminal
from ..verdict import REFUSED, UNPROVEN, VERIFIED

SETUP_ERRORS = (BackendUnavailableError, ManifestError, ModelFileError)
EXIT_UNPROVEN = 3
"""`parity`'s exit status when nothing is refused but a file's images could not show it within
the budget: a script that gates a deployment on it decides what that means for it."""
EXIT_STATUS = {VERIFIED: 0, REFUSED: 1, UNPROVEN: EXIT_UNPROVEN}
"""`parity`'s exit status for each outcome (2: the check could not start), for a models folder and for one file."""
"""What stops a command before it starts: no interpreter, no usable manifest, no usable model."""
SHOWN_LABELS = 10
"""model_summary names this many classes, then "...": MNIST's ten digits, or the first of yours."""


def fail(err) -> int:
    """Says `err` as one `error:` line on stderr; the exit status of a command that could not start."""
    print(f"error: {for_terminal(err)}", file=sys.stderr)
    return 2


def open_model(args) -> tuple:
    """(the Model a command runs, notes for stderr): --model's file, else the default model of
    the --models folder (its verified int8 TFLite artifact, see ModelsFolder.default_model), its
    manifest read once under the folder's read lock. The notes say why the default is another
    file than the int8 TFLite one, and when the file that runs is unproven. --backend,
    --threads, --no-verify and --verbose apply."""
    options = dict(backend=args.backend, num_threads=args.threads, verify_checksum=not args.no_verify,
                   quiet=not args.verbose)
    if args.model:
        model = load(args.model, **options)
        return model, [note for note in (unproven_note(model),) if note]
    with ModelsFolder.reading(args.models) as folder:
        chosen = folder.default_model()
        model = load_listed(folder, chosen.name, **options)
        return model, [note for note in (folder.choice_note(chosen), unproven_note(model)) if note]


def unproven_note(model: Model) -> Optional[str]:
    """One line naming `model` as unproven, with its verdict, when its manifest entry says so."""
    entry = model.entry
    if entry is None or entry.status != UNPROVEN:
        return None
    return f"note: {model.path.name} is {entry.verdict_summary or UNPROVEN}"


def model_summary(model: Model) -> str:
    """The model that answers, in one line: its path, backend, what it was trained on and its
    classes, so that an image of yours predicted by the MNIST model (no --model) is seen as such."""
    labels = ", ".join(map(for_terminal, model.labels[:SHOWN_LABELS])) + (", ..." if len(model.labels) > SHOWN_LABELS else "")
    trained = f", trained on {model.entry.dataset}" if model.entry is not None and model.entry.dataset else ""
    count = len(model.labels)
    return f"{for_terminal(model.path)} ({model.backend.name}{for_terminal(trained)}; {count} {plural(count, 'class', 'classes')}: {labels})"

