"""The runtime's own exceptions: each names the file or package involved."""


class ModelFileError(ValueError):
    """A model file is missing its manifest entry's checksum, or cannot be loaded."""


class ManifestError(ValueError):
    """models/manifest.json or the reference bundle is missing or malformed."""


class BackendUnavailableError(ImportError):
    """No interpreter package is installed that can run this model format."""


def one_line(err) -> str:
    """A library's error message folded onto one line (interpreters print multi-line ones)."""
    return " ".join(str(err).split())


class ImageError(ValueError):
    """An image file cannot be read, or holds no digit."""
