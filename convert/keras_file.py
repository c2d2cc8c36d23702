"""Opening a .keras file, with an error that says what is wrong with it: Keras itself calls
a file that is not a zip archive "File not found", and a damaged archive a CRC or JSON error.
A .keras file is a zip archive holding config.json (and the weights); anything else is
refused here before Keras reads it, in Keras's safe mode (a file never runs code)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from runtime.errors import ToolkitError, one_line
from runtime.store.files import special_kind

KERAS_CONFIG = "config.json"
"""The member every .keras archive holds: the model's architecture."""
SAVE_HINT = "save the model with model.save('name.keras')"
ZIP_START = b"PK\x03\x04"
"""A .keras file begins with its first zip member; a zip found further in (after gigabytes of
anything: zipfile reads such archives) is not one, and would be copied whole."""


class KerasFileError(ToolkitError, ValueError):
    """The .keras file is missing, not a Keras model file, damaged, or refused by Keras."""


def check_keras_archive(path: Path) -> None:
    """KerasFileError unless `path` is a regular file that is a readable zip archive with a
    config.json whose bytes match their checksums (a truncated or damaged download fails)."""
    kind = special_kind(path)
    if kind is not None:
        raise KerasFileError(f"{path}: is {kind}, not a file (expected a Keras model saved as .keras)")
    if not path.is_file():
        raise KerasFileError(f"{path}: no such file (expected a Keras model saved as .keras)")
    if not zipfile.is_zipfile(path):
        raise KerasFileError(f"{path}: not a Keras model file, or a damaged one (a .keras file is a zip archive, and "
                             f"this one is not readable as one: truncated, or some other file); {SAVE_HINT}")
    with open(path, "rb") as handle:
        start = handle.read(len(ZIP_START))
    if start != ZIP_START:
        raise KerasFileError(f"{path}: not a Keras model file: a zip archive lies inside it, but the file does not begin "
                             f"with one (something else comes first), as a .keras file does; {SAVE_HINT}")
    try:
        with zipfile.ZipFile(path) as archive:
            if KERAS_CONFIG not in archive.namelist():
                raise KerasFileError(f"{path}: not a Keras model file (a zip archive without {KERAS_CONFIG}); "
                                     f"{SAVE_HINT}")
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise KerasFileError(f"{path}: a damaged Keras model file (its zip archive cannot be read: "
                             f"{one_line(err)}); save it again") from err
    if bad is not None:
        raise KerasFileError(f"{path}: a damaged Keras model file ({bad} in it fails its checksum); save it again")


def load_keras(path) -> object:
    """The model in Keras's safe mode, after check_keras_archive; a file not named .keras is
    refused first, and Keras's own refusal (a Lambda layer, an unknown layer, damaged weights)
    is said in one line. Keras is imported after these checks, so a bad file is refused without
    its ~3 s import. The one way the toolkit opens a Keras model."""
    path = Path(path)
    if path.suffix.lower() != ".keras" and path.is_file():
        raise KerasFileError(f"{path}: not a .keras file; {SAVE_HINT}")
    check_keras_archive(path)
    import keras

    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # Keras raises ValueError, TypeError, OSError, KeyError ... for bad files
        raise KerasFileError(f"{path}: cannot load the Keras model in safe mode: {one_line(err)}") from err
