"""The C engine: an int8 .tflite model as one plain C99 file pair (NAME.c, NAME.h) that runs
it without an interpreter, byte for byte as TFLite Micro does.

generate(data, name) -> CEngine is the library call: the model's bytes and a validated name
in, the source, the header and the figures of its static memory plan out. It reads the
flatbuffer with LiteRT's schema (graph.py), lowers each op to a kernel with the constants
TFLite Micro's Prepare would compute (ops.py, quantization.py), plans the memory
(planner.py) and writes the text (c_source.py, generator.py) from the C kernels in
kernels/ (package data). The runtime's `c` backend (runtime/backends/c_engine.py) compiles an
engine with the machine's C compiler and calls it through ctypes, here as on a device;
cortex_m.py cross-compiles it for Cortex-M and runs it on QEMU.

Nothing here imports TensorFlow."""

from .generator import CEngine, TensorSpec, engine_name, generate, validate_name
from .graph import EngineError, EngineRefusal

__all__ = ["CEngine", "EngineError", "EngineRefusal", "TensorSpec", "engine_name", "generate", "validate_name"]
