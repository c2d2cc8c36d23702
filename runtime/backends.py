"""One thin wrapper per interpreter package, all with the same shape: `inputs`/`outputs`
describe the tensors, `run(x)` returns the first output. Model code never asks which
backend it holds. Interpreter packages are imported only when a backend is opened."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import BackendUnavailableError, InputShapeError, ModelFileError, one_line
from .interpreters import PACKAGES, Versioned, import_backend
from .onnx_external import check_external_data
from .tensors import TensorInfo, check_io, check_tensor_size

BACKENDS = ("litert", "tflite-runtime", "onnxruntime", "tflite-micro")
"""Names accepted by `--backend` and `load(..., backend=)`."""

BACKENDS_FOR_FORMAT = {".tflite": ("litert", "tflite-runtime"), ".onnx": ("onnxruntime",)}
"""Which backends can run a file, in order of preference."""
ON_REQUEST = {".tflite": ("tflite-micro",)}
"""Backends used only when named: TFLite Micro runs batch-1 models (`python -m convert micro`),
not every .tflite file, and only on x86_64 Linux (runtime/workstation/tflm_backend.py)."""
CHECKS_ITS_OWN_FILES = ("tflite-micro",)
"""Backends that load every file in a child process first themselves (with its arena), so
`load` need not probe it."""


def model_format(path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in BACKENDS_FOR_FORMAT:
        raise ModelFileError(
            f"{path}: unknown model format {suffix!r}; expected a .tflite or .onnx file"
        )
    return suffix[1:]


def available_backends(path) -> list:
    """The installed backends that can run this file, in order of preference."""
    found = []
    for name in BACKENDS_FOR_FORMAT[Path(path).suffix.lower()]:
        try:
            import_backend(name)
        except BackendUnavailableError:
            continue
        found.append(name)
    return found


def choose_backend(path, backend: Optional[str] = None) -> str:
    """The backend that will run `path`: `backend` if given (checked against the file's
    format), else the first installed one for its format; BackendUnavailableError names the
    package to install when there is none."""
    suffix = "." + model_format(path)
    candidates = BACKENDS_FOR_FORMAT[suffix]
    if backend is not None:
        if backend not in BACKENDS:
            raise ValueError(f"backend: got {backend!r}, expected one of {', '.join(BACKENDS)}")
        if backend not in candidates + ON_REQUEST.get(suffix, ()):
            raise ValueError(
                f"backend {backend!r} cannot run {suffix} files; use {' or '.join(candidates)}"
            )
        candidates = (backend,)
    errors = []
    for name in candidates:
        try:
            import_backend(name)
        except BackendUnavailableError as err:
            errors.append(err)
            continue
        return name
    raise BackendUnavailableError(
        f"cannot run {path}: no interpreter for {suffix} files is installed; {_install_hint(candidates)}"
    ) from errors[-1]


def open_backend(path, backend: str, num_threads: Optional[int] = None, quiet: bool = True,
                 image_shape: Optional[tuple] = None):
    """Opens `path` in this process with the named backend (see choose_backend); `quiet`
    drops the interpreter's status lines (runtime.native_output). With `image_shape` (the
    input contract's), a TFLite model whose input differs is refused before its tensors are
    allocated."""
    module = import_backend(backend)
    if backend == "onnxruntime":
        return OnnxRuntimeBackend(path, module, num_threads, quiet)
    if backend == "tflite-micro":  # a workstation backend: its module is imported only when asked for
        from .workstation.arena_probe import open_probed

        return open_probed(path, module)
    return TFLiteBackend(path, module, backend, num_threads, quiet, image_shape=image_shape)


def _install_hint(candidates) -> str:
    """What to install to run one of `candidates`. On 32-bit ARM (the 32-bit Raspberry Pi OS)
    only tflite-runtime has wheels on PyPI: ai-edge-litert and onnxruntime have none."""
    import platform

    if platform.machine() not in ("armv7l", "armv6l"):
        return "pip install " + " or ".join(PACKAGES[name] for name in candidates)
    import sys

    if sys.version_info[:2] > (3, 11):  # 32-bit Raspberry Pi OS 13 (trixie): Python 3.13
        if "onnxruntime" in candidates:
            return ("onnxruntime has no 32-bit ARM wheels, but Debian 13 packages it: sudo apt install python3-onnxruntime "
                    "(a venv sees it when made with --system-site-packages; `python -m runtime doctor` says more)")
        return (f"no TFLite interpreter has 32-bit ARM wheels for Python {sys.version_info[0]}.{sys.version_info[1]} "
                "(tflite-runtime's last are for 3.11, ai-edge-litert has none): run the .onnx artifacts with "
                "Debian's python3-onnxruntime (`python -m runtime doctor` says how)")
    extra = 'pip install "edge-mnist[tflite-runtime]"'
    if "tflite-runtime" in candidates:
        return f"{extra} (ai-edge-litert has no 32-bit ARM wheels)"
    if "litert" in candidates:
        return f"ai-edge-litert has no 32-bit ARM wheels: use --backend tflite-runtime and {extra}"
    return "onnxruntime has no 32-bit ARM wheels: run the .tflite artifacts, or use a 64-bit OS"


_UINT8 = np.dtype(np.uint8)
_TOP_BIT = np.array(128, np.uint8)
"""A 0-d array: numpy's ufuncs take it faster than a scalar (0.8 against 1.1 µs on 784 bytes)."""


class TFLiteBackend(Versioned):
    """LiteRT's or tflite-runtime's `Interpreter` (the same API).

    An interpreter holds its tensors in place and is not safe to share between threads,
    so calls are serialised by a lock; the input is resized to each batch's size, or, for a
    model made for one fixed batch size (a batch-1 export for TFLite Micro), the batch is
    run in pieces of that size. `op_resolver` names an `OpResolverType` (e.g. BUILTIN_REF).
    """

    def __init__(self, path, module, name: str, num_threads: Optional[int] = None, quiet: bool = True,
                 op_resolver: Optional[str] = None, image_shape: Optional[tuple] = None):
        from .native_output import filtered_stderr

        self.name = name
        options = {}
        if op_resolver is not None:
            options["experimental_op_resolver_type"] = getattr(module.OpResolverType, op_resolver)
        try:
            with filtered_stderr(quiet):
                self._interpreter = module.Interpreter(model_path=str(path), num_threads=num_threads, **options)
                inputs = self._interpreter.get_input_details()
                outputs = self._interpreter.get_output_details()
                self.inputs = [self._info(d) for d in inputs]
                self.outputs = [self._info(d) for d in outputs]
                # Sizes and the contract are checked on the model's declarations, before allocating.
                check_io(path, self.inputs, self.outputs)
                for tensor in self._interpreter.get_tensor_details():
                    check_tensor_size(path, f"tensor {tensor['name']!r}", tensor["shape"], tensor["dtype"])
                if image_shape is not None and tuple(self.inputs[0].shape[1:]) != tuple(image_shape):
                    raise InputShapeError(f"{path}: model input shape {list(self.inputs[0].shape)} does not match the "
                                         f"input contract's image shape {tuple(image_shape)}")
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            if isinstance(err, ModelFileError):
                raise
            raise ModelFileError(f"{path}: not a valid TFLite model ({one_line(err)})") from err
        self._input_index = inputs[0]["index"]
        self._output_index = outputs[0]["index"]
        self._batch = int(inputs[0]["shape"][0])
        self._fixed_batch = self.inputs[0].shape[0] if self.inputs[0].shape[0] > 0 else None
        """The batch size the model was exported for, when it is not left open."""
        self._lock = threading.Lock()
        self._input_is_int8 = self.inputs[0].dtype == np.int8
        self._input_tensor = self._interpreter.tensor(self._input_index)
        """Returns a numpy view of the input tensor's memory, wherever the last allocation put it."""
        if self._fixed_batch is None:
            self.run = self._run  # one call less on the single-image path (the fixed-batch split is not needed)

    @staticmethod
    def _info(details: dict) -> TensorInfo:
        scale, zero_point = details["quantization"]
        shape = tuple(int(v) for v in details.get("shape_signature", details["shape"]))
        return TensorInfo(details["name"], shape, np.dtype(details["dtype"]), float(scale), int(zero_point))

    def run(self, x: np.ndarray) -> np.ndarray:
        fixed = self._fixed_batch
        if fixed is not None and len(x) > fixed and len(x) % fixed == 0:
            return np.concatenate([self._run(x[i : i + fixed]) for i in range(0, len(x), fixed)])
        return self._run(x)

    def _run(self, x: np.ndarray) -> np.ndarray:
        interpreter = self._interpreter
        with self._lock:
            if x.shape[0] != self._batch:
                self._resize(x.shape)
            interpreter.set_tensor(self._input_index, x)
            interpreter.invoke()
            return interpreter.get_tensor(self._output_index)

    def _resize(self, shape: tuple) -> None:
        """The input tensor resized to `shape` (a new batch size); the caller holds the lock."""
        self._interpreter.resize_tensor_input(self._input_index, list(shape))
        self._interpreter.allocate_tensors()
        self._batch = shape[0]

    def run_offset_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """`run` of pixels - 128 as int8 (an int8 input of scale 1/255, zero point -128) for
        uint8 `pixels`: the top bit is flipped as the pixels are written into the input
        tensor, in one pass with no array in between. A new array for the flipped pixels
        cost the seed MLP 0.86x the bare interpreter's throughput at batch 1,000 (issue 24)."""
        if pixels.dtype != _UINT8 or not self._input_is_int8:
            raise TypeError(f"run_offset_pixels takes uint8 pixels for an int8 input; got {pixels.dtype} pixels "
                            f"for a {self.inputs[0].dtype} input (use run)")
        if self._fixed_batch is not None and len(pixels) != self._fixed_batch:
            return self.run((pixels ^ _TOP_BIT).view(np.int8))  # in pieces of the fixed batch
        with self._lock:
            if pixels.shape[0] != self._batch:
                self._resize(pixels.shape)
            # The view of the tensor's memory is gone when the statement ends: invoke() refuses to run while one lives.
            np.bitwise_xor(pixels, _TOP_BIT, out=self._input_tensor().view(np.uint8))
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output_index)


_ONNX_DTYPES = {"tensor(float)": np.float32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}

ONNX_DISABLED_OPTIMIZERS = {(1, 21): "WeightBiasQuantization"}
"""onnxruntime graph transformers that change a float model's answers, by the release that has them.
1.21's WeightBiasQuantization (basic level) rounds a Gemm's float weights to per-tensor int8 when
its input comes from a DequantizeLinear, even if no QuantizeLinear takes its output. The seed's
float32 ONNX (uint8 pixels, DequantizeLinear, MatMul + Add) then differed from ORT_DISABLE_ALL by
max |dp| 8.1e-3 on 1,000 reference images: on x86_64 (PyPI's 1.21.0 and 1.21.1) as on emulated
armv7l (Debian 13's python3-onnxruntime 1.21; qemu's cortex-a7, cortex-a15 and max alike), so
neither the ARM kernels nor the emulator. With it disabled: 4.8e-7 (armv7l 5.2e-7), what 1.20.1,
1.22.0 and 1.32.0 give with every optimization on. Disabling it cost 1.21 nothing measurable
(batch 1,000 the same; one float32 image 0.7x the time, its weights no longer dequantized each
run). 1.22 leaves such a Gemm alone (onnxruntime PR 24537); elsewhere it stays on."""


def onnx_session_options(module, num_threads: Optional[int] = None):
    """The `SessionOptions` every onnxruntime session of the runtime (and bench's bare one) is opened
    with: ORT's own defaults, less ONNX_DISABLED_OPTIMIZERS for the release installed."""
    options = module.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = num_threads
    release = tuple(int(part) for part in module.__version__.split(".")[:2] if part.isdigit())  # "1.21" from Debian
    if release in ONNX_DISABLED_OPTIMIZERS:
        # One name only: 1.21 ignores the whole list when one name in it is unknown (measured).
        options.add_session_config_entry("optimization.disable_specified_optimizers", ONNX_DISABLED_OPTIMIZERS[release])
    return options


class OnnxRuntimeBackend(Versioned):
    """An onnxruntime `InferenceSession` on the CPU; `run` is thread-safe."""

    def __init__(self, path, module, num_threads: Optional[int] = None, quiet: bool = True):
        from .native_output import filtered_stderr

        self.name = "onnxruntime"
        check_external_data(path)
        try:
            with filtered_stderr(quiet):  # Debian's build prints hundreds of lines at the first session
                self._session = module.InferenceSession(
                    str(path), sess_options=onnx_session_options(module, num_threads), providers=["CPUExecutionProvider"]
                )
        except Exception as err:  # onnxruntime's errors do not derive from RuntimeError
            raise ModelFileError(f"{path}: not a valid ONNX model ({one_line(err)})") from err
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        for arg in inputs + outputs:
            if arg.type not in _ONNX_DTYPES:
                raise ModelFileError(f"{path}: tensor {arg.name!r} has type {arg.type}, expected float, int8 or uint8")
        self.inputs = [self._info(t) for t in inputs]
        self.outputs = [self._info(t) for t in outputs]
        check_io(path, self.inputs, self.outputs)
        self._input_name = inputs[0].name

    @staticmethod
    def _info(arg) -> TensorInfo:
        shape = tuple(d if isinstance(d, int) else -1 for d in (arg.shape or ()))
        return TensorInfo(arg.name, shape, np.dtype(_ONNX_DTYPES[arg.type]))

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input_name: x})[0]
