"""Damaged and malformed variants of a model file, for the mutation test.

Byte-level damage (truncation, bit flips, empty, zeros, random, other formats) and, for
TFLite, structural edits that keep the flatbuffer valid but break its meaning: the kinds
of edit measured to crash LiteRT's interpreter when loaded in-process."""

from __future__ import annotations

import copy

import numpy as np

# TFLite TensorType codes (schema.fbs)
FLOAT16, INT64, STRING, BOOL, INT16, COMPLEX64 = 1, 4, 5, 6, 7, 8
BUILTIN_CODES = (0, 2, 3, 17, 22, 25, 9, 28, 32)  # ADD, CONCAT, CONV_2D, MAX_POOL, RESHAPE, SOFTMAX, FC, TANH...


def byte_mutants(data: bytes, rng: np.random.Generator, flips: int = 20, cuts: int = 8) -> list:
    mutants = [("empty", b""), ("zeros", bytes(len(data))), ("random", rng.bytes(len(data))),
               ("text", b"this is not a model\n" * 20), ("png header", b"\x89PNG\r\n\x1a\n" + rng.bytes(200))]
    for cut in np.linspace(0.02, 0.98, cuts):
        mutants.append((f"truncated at {cut:.0%}", data[: int(len(data) * cut)]))
    for _ in range(flips):
        pos = int(rng.integers(len(data)))
        flipped = bytearray(data)
        flipped[pos] ^= 1 << int(rng.integers(8))
        mutants.append((f"bit flip at byte {pos}", bytes(flipped)))
    return mutants


def tflite_structural_mutants(data: bytes) -> list:
    """Valid flatbuffers with bad semantics, built with TensorFlow's generated schema."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    original = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)

    def pack(model) -> bytes:
        builder = flatbuffers.Builder(len(data))
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    mutants = []

    def mutant(name, edit):
        model = copy.deepcopy(original)
        edit(model, model.subgraphs[0])
        mutants.append((name, pack(model)))

    graph = original.subgraphs[0]
    weights = [i for i, t in enumerate(graph.tensors) if original.buffers[t.buffer].data is not None]
    activations = [i for i, t in enumerate(graph.tensors) if original.buffers[t.buffer].data is None]
    for i in activations:
        for dtype in (STRING, INT16, BOOL, INT64, FLOAT16, COMPLEX64):
            mutant(f"tensor {i} type -> {dtype}", lambda m, g, i=i, d=dtype: setattr(g.tensors[i], "type", d))
        mutant(f"tensor {i} buffer -> weights", lambda m, g, i=i: setattr(g.tensors[i], "buffer", g.tensors[weights[-1]].buffer))
    for w in weights[:4]:
        mutant(f"graph input -> weights tensor {w}", lambda m, g, w=w: g.inputs.__setitem__(0, w))
    mutant("graph output -> input", lambda m, g: g.outputs.__setitem__(0, g.inputs[0]))
    mutant("graph input index out of range", lambda m, g: g.inputs.__setitem__(0, len(g.tensors) + 5))
    for k, op in enumerate(graph.operators):
        for j in range(len(op.inputs)):
            mutant(f"op {k} input {j} -> -1", lambda m, g, k=k, j=j: g.operators[k].inputs.__setitem__(j, -1))
        mutant(f"op {k} output -> -1", lambda m, g, k=k: g.operators[k].outputs.__setitem__(0, -1))
        mutant(f"op {k} opcode index +1", lambda m, g, k=k: setattr(g.operators[k], "opcodeIndex", (op.opcodeIndex + 1) % len(original.operatorCodes)))
    for c in range(len(original.operatorCodes)):
        for code in BUILTIN_CODES[:4]:
            def edit(m, g, c=c, code=code):
                m.operatorCodes[c].builtinCode = code
                m.operatorCodes[c].deprecatedBuiltinCode = code
            mutant(f"opcode {c} -> builtin {code}", edit)
    for w in weights:
        mutant(f"tensor {w} shape reversed", lambda m, g, w=w: setattr(g.tensors[w], "shape", np.array(g.tensors[w].shape[::-1])))
        mutant(f"tensor {w} data cut", lambda m, g, w=w: setattr(m.buffers[g.tensors[w].buffer], "data", m.buffers[g.tensors[w].buffer].data[:2]))
    return mutants


def onnx_structural_mutants(data: bytes) -> list:
    """Valid protobufs with bad semantics, built with the onnx package."""
    import onnx

    original = onnx.load_from_string(data)
    mutants = []

    def mutant(name, edit):
        model = copy.deepcopy(original)
        edit(model.graph)
        mutants.append((name, model.SerializeToString()))

    mutant("input type -> string", lambda g: setattr(g.input[0].type.tensor_type, "elem_type", onnx.TensorProto.STRING))
    mutant("output type -> int64", lambda g: setattr(g.output[0].type.tensor_type, "elem_type", onnx.TensorProto.INT64))
    mutant("first initializer removed", lambda g: g.initializer.remove(g.initializer[0]))
    for k in range(min(len(original.graph.node), 6)):
        mutant(f"node {k} op -> Conv", lambda g, k=k: setattr(g.node[k], "op_type", "Conv"))
        mutant(f"node {k} op -> NoSuchOp", lambda g, k=k: setattr(g.node[k], "op_type", "NoSuchOp"))
        mutant(f"node {k} input renamed", lambda g, k=k: g.node[k].input.__setitem__(0, "missing_tensor"))
    for k in range(min(len(original.graph.initializer), 4)):
        mutant(f"initializer {k} dims reversed", lambda g, k=k: g.initializer[k].dims.reverse())
        mutant(f"initializer {k} data cut", lambda g, k=k: setattr(g.initializer[k], "raw_data", g.initializer[k].raw_data[:8]))
    return mutants
