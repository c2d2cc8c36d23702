"""The int8 .tflite flatbuffer read into plain tensors and operators, with LiteRT's generated
model schema (ai_edge_litert.schema_py_generated, as convert/metadata.py uses it): what the
generator needs and nothing of TensorFlow.

A damaged or hostile file gives EngineError, never a traceback or unbounded memory: sizes
are checked before anything is allocated for them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from runtime.errors import ToolkitError, one_line

MAX_TENSOR_BYTES = 64 * 1024 * 1024
"""A tensor larger than this (64 MiB) is not a microcontroller's: refused before planning."""
MAX_OPERATORS = 10_000

TENSOR_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8",
                10: "float64", 17: "int4"}
"""The schema's TensorType values this reader names; any other is named by its number."""
ITEM_BYTES = {"float32": 4, "float16": 2, "int32": 4, "uint8": 1, "int64": 8, "bool": 1, "int16": 2, "int8": 1,
              "float64": 8}
NUMPY_TYPES = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "int64": np.int64, "int16": np.int16,
               "int8": np.int8}


class EngineError(ToolkitError, ValueError):
    """The file is not a model the C engine can be generated from (damaged, or not TFLite)."""


class EngineRefusal(EngineError):
    """A valid model that the C engine does not support: the message names the op and its
    Keras layer, in one line."""


@dataclass
class Tensor:
    """One tensor of the model's graph."""

    index: int
    name: str
    """Its name in the file (TensorFlow's op names, which carry the Keras layer path)."""
    shape: tuple
    dtype: str
    scales: tuple = ()
    zero_points: tuple = ()
    quantized_dimension: int = 0
    data: Optional[np.ndarray] = None
    """The constant's values (shape as the tensor), or None for an activation."""

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * ITEM_BYTES.get(self.dtype, 1)

    @property
    def scale(self) -> float:
        return self.scales[0] if self.scales else 0.0

    @property
    def zero_point(self) -> int:
        return self.zero_points[0] if self.zero_points else 0

    @property
    def constant(self) -> bool:
        return self.data is not None


@dataclass
class Operator:
    """One node, in the order the interpreter runs them."""

    index: int
    op: str
    """The builtin operator's name (CONV_2D ...), or CUSTOM:<name>."""
    inputs: list
    """Tensor indices; -1 for an optional input left out."""
    outputs: list
    options: object = None
    """The schema's options object (Conv2DOptionsT ...), or None."""


@dataclass
class Graph:
    tensors: list
    operators: list
    inputs: list
    outputs: list
    names: dict = field(default_factory=dict)
    """Option enum names of the schema: {"padding": {0: "SAME", ...}}."""


def keras_layer(tensor_name: str) -> str:
    """The Keras layer a tensor comes from, as its TensorFlow name carries it:
    'mnist_cnn_1/conv2d_1/Relu;mnist_cnn_1/conv2d_1/BiasAdd' -> 'mnist_cnn_1/conv2d_1'."""
    first = tensor_name.split(";")[0]
    path = first.rsplit("/", 1)[0] if "/" in first else first
    return re.sub(r":\d+$", "", path)


def schema():
    """LiteRT's generated TFLite schema."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError as err:
        raise EngineError(f"the C engine's generator reads the model with LiteRT's schema: pip install ai-edge-litert "
                          f"({one_line(err)})") from err
    return schema_py_generated


def read_graph(data: bytes) -> Graph:
    """The first subgraph of the .tflite flatbuffer `data`."""
    s = schema()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise EngineError("not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        _check_vector_lengths(s.Model.GetRootAs(data, 0), len(data))
        model = s.ModelT.InitFromObj(s.Model.GetRootAs(data, 0))
    except EngineError:
        raise
    except Exception as err:  # the generated reader raises anything on a damaged buffer
        raise EngineError(f"damaged TFLite flatbuffer ({type(err).__name__}: {one_line(err)})") from err
    if not model.subgraphs:
        raise EngineError("the model has no subgraph")
    if len(model.subgraphs) > 1:
        raise EngineRefusal(f"the model has {len(model.subgraphs)} subgraphs (control flow); the C engine runs one")
    graph = model.subgraphs[0]
    op_names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    tensors = [_tensor(i, t, model, data) for i, t in enumerate(graph.tensors or [])]
    operators = []
    if len(graph.operators or []) > MAX_OPERATORS:
        raise EngineError(f"{len(graph.operators)} operators: more than {MAX_OPERATORS}")
    for i, op in enumerate(graph.operators or []):
        codes = model.operatorCodes or []
        if not 0 <= op.opcodeIndex < len(codes):
            raise EngineError(f"operator {i} names opcode {op.opcodeIndex} of {len(codes)}")
        code = codes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = op_names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            name = f"CUSTOM:{(code.customCode or b'?').decode('ascii', 'replace')}"
        inputs = [int(v) for v in (op.inputs if op.inputs is not None else [])]
        outputs = [int(v) for v in (op.outputs if op.outputs is not None else [])]
        for index in inputs + outputs:
            if not -1 <= index < len(tensors):
                raise EngineError(f"operator {i} ({name}) names tensor {index} of {len(tensors)}")
        operators.append(Operator(i, name, inputs, outputs, op.builtinOptions))
    for index in list(graph.inputs if graph.inputs is not None else []) + list(graph.outputs if graph.outputs is not None else []):
        if not 0 <= index < len(tensors):
            raise EngineError(f"the graph names tensor {index} of {len(tensors)} as an input or output")
    names = {"padding": {v: k for k, v in vars(s.Padding).items() if not k.startswith("_")}}
    return Graph(tensors, operators, [int(v) for v in graph.inputs], [int(v) for v in graph.outputs], names)


def _check_vector_lengths(model, size: int) -> None:
    """Each entry of a table vector takes at least 4 bytes: a damaged file that claims more
    entries than that would make the object reader loop for a very long time."""
    limit = size // 4
    counts = {"subgraphs": model.SubgraphsLength(), "buffers": model.BuffersLength(),
              "operator codes": model.OperatorCodesLength()}
    for g in range(min(model.SubgraphsLength(), limit)):
        graph = model.Subgraphs(g)
        counts[f"subgraph {g} tensors"] = graph.TensorsLength()
        counts[f"subgraph {g} operators"] = graph.OperatorsLength()
    for what, count in counts.items():
        if count > limit:
            raise EngineError(f"damaged TFLite flatbuffer: {count} {what} in a file of {size} bytes")


def _tensor(index: int, t, model, data: bytes) -> Tensor:
    name = (t.name or b"").decode("utf-8", "replace")
    shape = tuple(int(v) for v in (t.shape if t.shape is not None else ()))
    dtype = TENSOR_TYPES.get(t.type, f"type {t.type}")
    if any(d < 0 for d in shape):
        raise EngineError(f"tensor {index} ({name}) has a dynamic shape {list(shape)}; the C engine needs fixed shapes "
                          "(python -m convert micro makes a batch-1 model)")
    tensor = Tensor(index, name, shape, dtype)
    if tensor.nbytes > MAX_TENSOR_BYTES:
        raise EngineError(f"tensor {index} ({name}) {list(shape)} {dtype} needs {tensor.nbytes} bytes, more than a "
                          f"microcontroller model's {MAX_TENSOR_BYTES}")
    q = t.quantization
    if q is not None and q.scale is not None and len(q.scale):
        tensor.scales = tuple(float(v) for v in q.scale)
        tensor.zero_points = tuple(int(v) for v in (q.zeroPoint if q.zeroPoint is not None else [0] * len(q.scale)))
        tensor.quantized_dimension = int(q.quantizedDimension)
    buffers = model.buffers or []
    if not 0 <= t.buffer < len(buffers):
        raise EngineError(f"tensor {index} ({name}) names buffer {t.buffer} of {len(buffers)}")
    raw = _buffer_bytes(buffers[t.buffer], data, index, name)
    if raw:
        tensor.data = _values(raw, tensor)
    return tensor


def _buffer_bytes(buffer, data: bytes, index: int, name: str) -> bytes:
    if buffer.offset > 1:  # stored after the flatbuffer (models over 2 GB, or written that way)
        if buffer.offset + buffer.size > len(data):
            raise EngineError(f"tensor {index} ({name})'s data lies beyond the end of the file")
        return data[buffer.offset : buffer.offset + buffer.size]
    if buffer.data is None:
        return b""
    return np.asarray(buffer.data, np.uint8).tobytes()


def _values(raw: bytes, tensor: Tensor) -> np.ndarray:
    if tensor.dtype == "int4":  # two values a byte, low nibble first (TFLite's packing)
        packed = np.frombuffer(raw, np.uint8)
        low = (packed & 0x0F).astype(np.int8)
        high = (packed >> 4).astype(np.int8)
        values = np.stack([low, high], axis=1).reshape(-1)
        values = np.where(values > 7, values - 16, values).astype(np.int8)[: tensor.size]
        if values.size != tensor.size:
            raise EngineError(f"tensor {tensor.index} ({tensor.name}) holds {len(raw)} bytes for {tensor.size} int4 values")
        return values.reshape(tensor.shape)
    if tensor.dtype not in NUMPY_TYPES:
        raise EngineRefusal(f"tensor {tensor.index} ({tensor.name}) holds {tensor.dtype} constants")
    expected = tensor.nbytes
    if len(raw) != expected:
        raise EngineError(f"tensor {tensor.index} ({tensor.name}) {list(tensor.shape)} {tensor.dtype} holds {len(raw)} "
                          f"bytes, expected {expected}")
    return np.frombuffer(raw, NUMPY_TYPES[tensor.dtype]).reshape(tensor.shape)
