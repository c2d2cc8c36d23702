"""The toolkit's own exceptions: each names the file, package or parameter involved, and
every command prints one as a single `error:` line (ToolkitError is what they catch)."""


class ToolkitError(Exception):
    """Base of every error the toolkit reports to a user as one line."""


class ModelFileError(ToolkitError, ValueError):
    """A model file is missing its manifest entry's checksum, or cannot be loaded."""


class InputShapeError(ModelFileError):
    """A model's input tensor is not the shape its input contract says (found before the
    interpreter allocates anything for it)."""


class ManifestError(ToolkitError, ValueError):
    """models/manifest.json or the reference bundle is missing or malformed."""


class ImageError(ToolkitError, ValueError):
    """An image file cannot be read, or holds no digit."""


class BackendUnavailableError(ToolkitError, ImportError):
    """No interpreter package is installed that can run this model format."""


def one_line(err) -> str:
    """A library's error message folded onto one line (interpreters print multi-line ones)."""
    return " ".join(str(err).split())
