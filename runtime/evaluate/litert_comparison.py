"""TFLite Micro's raw outputs against LiteRT's on the same file, image by image: information
for a reader (kernel libraries round int8 differently), never a verdict; TFLM is judged, like
every runtime, against the float Keras model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..backends.tflite import TFLiteBackend
from ..errors import BackendUnavailableError
from ..backends.interpreters import import_backend
from ..tables import plural

LITERT_RESOLVERS = {"int8": "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "float32": "BUILTIN_REF"}
"""The LiteRT kernels TFLM's outputs are compared with (for information), by precision. int8: LiteRT's
builtin kernels without the XNNPACK delegate (XNNPACK, LiteRT's default, and the reference
kernels round some int8 outputs differently); float32: the reference kernels, which TFLM's
float kernels were ported from (the optimized ones differ by ~1e-7)."""
_RESOLVER_WORDS = {"BUILTIN_WITHOUT_DEFAULT_DELEGATES": "builtin kernels without XNNPACK", "BUILTIN_REF": "reference kernels"}


def litert_reference(path, precision: str):
    """LiteRT on `path` with the kernels TFLM's outputs must equal (LITERT_RESOLVERS), or None
    when LiteRT is not installed or the precision has no such rule."""
    if precision not in LITERT_RESOLVERS:
        return None
    try:
        module = import_backend("litert")
    except BackendUnavailableError:
        return None
    return TFLiteBackend(path, module, "litert", num_threads=1, op_resolver=LITERT_RESOLVERS[precision])


@dataclass(frozen=True)
class LiteRTComparison:
    """TFLM's outputs against LiteRT's, image by image, in the model's own output type."""

    kernels: str
    """LiteRT's op resolver that was compared with."""
    images: int
    differing: int
    """Images with any output value that differs."""
    max_steps: float
    """Largest difference, in quantization steps for an integer output, else absolute."""

    @property
    def equal(self) -> bool:
        return self.differing == 0

    def sentence(self) -> str:
        what = f"LiteRT's ({_RESOLVER_WORDS.get(self.kernels, self.kernels)})"
        if self.equal:
            return f"outputs equal {what} bit for bit on {self.images} of {self.images} {plural(self.images, 'image')}"
        unit = " quantization steps" if float(self.max_steps).is_integer() else ""
        return f"outputs differ from {what} on {self.differing} of {self.images} {plural(self.images, 'image')}, by up to {self.max_steps:g}{unit}"


def compare_with_litert(model, images: np.ndarray, precision: str) -> Optional[LiteRTComparison]:
    """Runs `images` (uint8, as the runtime takes them) through `model` (a runtime Model on
    TFLM) and through LiteRT with LITERT_RESOLVERS[precision] on the same file and the same
    model input, one image at a time, and compares the raw outputs. None when LiteRT is not
    installed or the precision has no rule."""
    reference = litert_reference(model.path, precision)
    if reference is None:
        return None
    x = model.pixels_to_input(model.contract.check_shape(np.asarray(images)))
    ours, theirs = model.backend.run(x), reference.run(x)
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64)).reshape(len(x), -1)
    return LiteRTComparison(LITERT_RESOLVERS[precision], len(x), int(np.count_nonzero(diff.max(1))),
                            float(diff.max()) if diff.size else 0.0)
