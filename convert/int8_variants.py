"""The ways one Keras model can be quantized, built as .tflite bytes and measured on the
reference images: int8 as `convert` writes it, the other weight granularity, chosen ops
kept in float (TensorFlow's QuantizationDebugger, calibrated once for every choice of ops),
and int16 activations with int8 weights (16x8).

The diagnosis and the budget search both choose among these; neither builds a model itself."""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from runtime.evaluate.parity import compare
from runtime.store.bundles import Reference
from runtime.tables import plural

from .tflite_export import ARTIFACT_INT8_OUTPUT, fixed_batch_saved_model, tflite_converter

ACTIVATIONS = ("int8", "int16")


@dataclass(frozen=True)
class Variant:
    """One way to quantize a model."""

    per_channel: bool = True
    """int8 weights with one scale per output channel (False: one per tensor)."""
    float_ops: tuple = ()
    """Output tensor names of the ops kept in float (the debugger's denylisted_nodes)."""
    float_layers: tuple = ()
    """The Keras layers those ops come from, for people to read (same order)."""
    activations: str = "int8"
    """int8, or int16 (16x8: EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, with
    float32 input and output, since the runtime takes int8, uint8 or float32 tensors)."""

    def __post_init__(self):
        if self.activations not in ACTIVATIONS:
            raise ValueError(f"activations: got {self.activations!r}, expected one of {', '.join(ACTIVATIONS)}")
        if self.float_ops and self.activations != "int8":
            raise ValueError("float_ops: ops are kept in float only with int8 activations")

    def describe(self) -> str:
        weights = "per-channel" if self.per_channel else "per-tensor"
        if self.activations == "int16":
            return f"int16 activations, int8 weights {weights} (16x8)"
        if self.float_ops:
            names = ", ".join(self.float_layers or self.float_ops)
            return f"int8 {weights}, {len(self.float_ops)} {plural(len(self.float_ops), 'op')} in float ({names})"
        return f"int8 {weights}"


@dataclass
class Measured:
    """A variant built and run through the runtime on the reference images."""

    variant: Variant
    data: bytes
    probs: np.ndarray
    """The runtime's probabilities on the reference images."""
    agreement: float
    """Top-1 agreement with the Keras model."""
    ms_per_image: float
    """The interpreter's time per reference image, in one batch after a first image (this
    machine, not a benchmark)."""
    failure: Optional[str] = None
    """Why it could not be built or run (then data is empty and probs None)."""

    @property
    def size(self) -> int:
        return len(self.data)


def quiet():
    """The converter prints its SavedModel signature and status lines; LiteRT warns about
    preserved tensors and its own deprecations."""
    from runtime.backends.native_output import filtered_stderr

    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(filtered_stderr())
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


class Quantizer:
    """Builds the variants of one model from one set of calibration images. The debugger's
    calibration runs once, on the first variant with float ops; each further choice of ops
    is a re-quantization of that calibrated model (a fraction of a second). `output_type` is the
    plain and per-tensor variants' output (tflite_export.INT8_OUTPUT_TYPES), float32 as `convert`
    writes int8 TFLite. The debugger's re-quantization (ops in float) keeps an int8 output, 16x8
    has float32 input and output; the runtime reads each as the file declares it. `batch_size`
    fixes the batch dimension of every variant but those with float ops (TFLite Micro's model:
    1); the fixed-batch export is written once, into a scratch folder the `with` block removes."""

    def __init__(self, model, calibration: np.ndarray, output_type: str = ARTIFACT_INT8_OUTPUT,
                 batch_size: Optional[int] = None):
        if calibration is None or len(calibration) == 0:
            raise ValueError("calibration: got no images, expected float32 model inputs to calibrate int8")
        self.model = model
        self.calibration = np.asarray(calibration, np.float32)
        self.output_type = output_type
        self.batch_size = batch_size
        self._debugger = None
        self._scratch = contextlib.ExitStack()
        self._saved_model = None

    def __enter__(self) -> "Quantizer":
        return self

    def __exit__(self, *exc) -> None:
        self._scratch.close()
        self._saved_model = None

    def _converter(self, per_channel: bool, output_type: str = "int8"):
        if self.batch_size is not None and self._saved_model is None:
            folder = self._scratch.enter_context(tempfile.TemporaryDirectory(prefix="fixed-batch-"))
            self._saved_model = fixed_batch_saved_model(self.model, self.batch_size, folder)  # within build's quiet()
        return tflite_converter(self.model, "int8", self.calibration, per_channel, self._saved_model, output_type)

    def build(self, variant: Variant) -> bytes:
        if variant.activations == "int16":
            return self._int16(variant.per_channel)
        if not variant.float_ops:
            with quiet():
                return self._converter(variant.per_channel, self.output_type).convert()
        return self._with_float_ops(variant)

    def _with_float_ops(self, variant: Variant) -> bytes:
        import tensorflow as tf

        options = tf.lite.experimental.QuantizationDebugOptions
        with quiet():
            if self._debugger is None:
                self._debugger = tf.lite.experimental.QuantizationDebugger(
                    converter=tflite_converter(self.model, "int8", self.calibration, True),
                    debug_dataset=self._dataset, debug_options=options(fully_quantize=True))
            # The debugger re-quantizes with its converter's granularity (Dense layers stay per-channel).
            self._debugger.converter._experimental_disable_per_channel = not variant.per_channel
            self._debugger.options = options(fully_quantize=True, denylisted_nodes=list(variant.float_ops))
            return self._debugger.get_nondebug_quantized_model()

    def _int16(self, per_channel: bool) -> bytes:
        import tensorflow as tf

        with quiet():
            converter = self._converter(per_channel)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            converter.inference_input_type = tf.float32
            converter.inference_output_type = tf.float32
            return converter.convert()

    def _dataset(self):
        for image in self.calibration:
            yield [image[np.newaxis]]


def measure(data: bytes, variant, reference: Reference, contract, name: str = "candidate.tflite") -> Measured:
    """Runs `data` through the runtime on the reference images, as a file called `name` (its
    suffix picks the interpreter: LiteRT for .tflite, onnxruntime for .onnx)."""
    import runtime

    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / name
        path.write_bytes(data)
        model = runtime.load(path, contract=contract, isolate=False)
        model.predict(reference.images[:1])  # the interpreter's first run allocates: not part of the time per image
        started = time.perf_counter()
        probs = model.predict(reference.images)
        elapsed = time.perf_counter() - started
    agreement = compare(path.name, "int8", len(data), probs, reference).agreement
    return Measured(variant, data, probs, agreement, 1000 * elapsed / max(1, len(reference.images)))


def build_and_measure(quantizer: Quantizer, variant: Variant, reference: Reference, contract) -> Measured:
    """The variant measured; when the converter or the runtime cannot make or run it (16x8
    lacks kernels for some ops), a Measured with `failure` saying why, in one line."""
    from runtime.errors import ToolkitError, one_line

    try:
        data = quantizer.build(variant)
        return measure(data, variant, reference, contract)
    except (ToolkitError, RuntimeError, ValueError) as err:  # what TensorFlow's converter raises for an op it cannot quantize
        return Measured(variant, b"", None, 0.0, float("nan"), failure=f"{type(err).__name__}: {one_line(err)[:300]}")
