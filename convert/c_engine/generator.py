"""generate(): the .tflite bytes of an int8 model and a validated name in, the C engine out
(NAME.c, NAME.h and the figures of its memory plan)."""

from __future__ import annotations

import hashlib
import keyword
import re
from dataclasses import dataclass

import numpy as np

from .c_source import broadcast_struct, c_array, c_float, c_struct, comment_text, kernel_source
from .graph import EngineError, EngineRefusal, read_graph
from .ops import lower
from .planner import make_plan

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")
"""What a name may be: it prefixes every identifier of the engine (NAME_predict ...)."""
C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while "
    "asm bool true false".split())
GENERATOR = "edge-mnist's `python -m convert micro`"


@dataclass(frozen=True)
class TensorSpec:
    """The model's input or output tensor, as the engine takes or gives its bytes."""

    shape: tuple
    scale: float
    zero_point: int

    @property
    def bytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True)
class CEngine:
    """The generated engine: two texts and what they hold."""

    name: str
    source: str
    """NAME.c: kernels, constants, the arena and NAME_predict."""
    header: str
    """NAME.h: NAME_predict and the NAME_* constants firmware needs."""
    input: TensorSpec
    output: TensorSpec
    arena_bytes: int
    """The static memory plan, the input tensor included: RAM in .bss, besides the stack and the
    caller's output buffer."""
    constant_bytes: int
    """Weights, biases and rescaling constants (flash), without the code."""
    ops: tuple
    kernels: tuple


def validate_name(name: str) -> str:
    """`name` if it can prefix the engine's C identifiers, else ValueError."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name.lower() in C_KEYWORDS \
            or keyword.iskeyword(name):
        raise ValueError(f"name: got {name!r}, expected a C identifier of letters, digits and _ that starts with a "
                         "letter (at most 48 characters)")
    return name


def engine_name(artifact: str) -> str:
    """A valid name made from an artifact's name: mnist_mlp_int8 stays as it is; other
    characters become _, and a name that does not start with a letter gets 'model_'."""
    ascii_name = re.sub(r"[^A-Za-z0-9_]", "_", str(artifact))[:40] or "model"
    return validate_name(ascii_name if ascii_name[0].isalpha() else f"model_{ascii_name}"[:48])


def generate(data: bytes, name: str, origin: str = "", input_note: str = "") -> CEngine:
    """The C engine of the int8 .tflite `data`, its identifiers prefixed with `name`
    (validate_name). EngineRefusal names an op the engine does not run and its Keras layer;
    EngineError a file that is not such a model. `origin` (a file name) and `input_note`
    (what the input's values are, e.g. "value = pixel / 255") are only quoted in comments."""
    validate_name(name)
    graph = read_graph(bytes(data))
    steps = lower(graph)  # first: an op it does not run is named, with its layer
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise EngineRefusal(f"the model has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; the C engine "
                            "takes one input and gives one output")
    specs = []
    for index, role in ((graph.inputs[0], "input"), (graph.outputs[0], "output")):
        t = graph.tensors[index]
        if t.dtype != "int8" or len(t.scales) != 1:
            raise EngineRefusal(f"the model's {role} is {t.dtype}{'' if t.scales else ' without quantization'}; the C "
                                f"engine takes and gives int8 tensors (python -m convert micro makes an int8 model)")
        specs.append(TensorSpec(tuple(t.shape), t.scale, t.zero_point))
    if graph.inputs[0] in graph.outputs:
        raise EngineRefusal("the model's output is its input")
    plan = make_plan(graph, steps)
    constants, constant_bytes = _constants(graph, steps)
    kernels = sorted({s.kernel for s in steps if s.kernel} | {u for s in steps for u in s.units})
    ops = tuple(sorted({s.op.op for s in steps}))
    digest = hashlib.sha256(bytes(data)).hexdigest()[:16]
    origin_text = comment_text(origin) if origin else "a TFLite model"
    source = "\n\n".join([
        _source_preamble(name, origin_text, digest, plan.arena_bytes, ops),
        "#include <stdint.h>\n#include <string.h>\n\n" + f'#include "{name}.h"',
        header_check(name, specs[0], specs[1]),
        "/* ==== Kernels ==================================================================== */",
        kernel_source(kernels),
        "/* ==== The model's constants ========================================================= */",
        constants,
        _arena(name, plan.arena_bytes),
        _predict(name, graph, steps, plan),
    ]) + "\n"
    header = _header(name, origin_text, digest, specs, plan.arena_bytes, ops, comment_text(input_note, 200))
    return CEngine(name, source, header, specs[0], specs[1], plan.arena_bytes, constant_bytes, ops, tuple(kernels))


HEADER_CHECK = "_header_matches_"
"""What names the typedefs by which NAME.c checks its header (the runtime's c backend requires them)."""


def header_check(name: str, x: TensorSpec, y: TensorSpec) -> str:
    """C99 that compiles only with this engine's own header: a header with other sizes or zero
    points (another model's) would make NAME_predict read or write past its caller's buffers."""
    checks = [f"typedef char {name}{HEADER_CHECK}{what}[({name}_{constant} == {value}) ? 1 : -1];"
              for what, constant, value in (("input", "INPUT_BYTES", x.bytes), ("output", "OUTPUT_BYTES", y.bytes),
                                            ("input_zero_point", "INPUT_ZERO_POINT", x.zero_point),
                                            ("output_zero_point", "OUTPUT_ZERO_POINT", y.zero_point))]
    return ("/* The header's sizes and zero points are this file's: with another engine's header it does not\n"
            " * compile (a negative array size). */\n" + "\n".join(checks))


def _source_preamble(name, origin, digest, arena, ops) -> str:
    return f"""/* {name}.c: an int8 model as plain C99, generated by {GENERATOR}
 * from {origin} (sha256 {digest}...); do not edit it, generate it again.
 *
 * {name}_predict runs one inference with TFLite's int8 reference arithmetic (zero points,
 * per-channel multipliers and shifts, rounding, saturation): its output bytes are those
 * TFLite Micro's interpreter gives for the same .tflite. Its memory is a static plan:
 * {arena} bytes of RAM ({name}_arena), tensors sharing bytes when their lifetimes do not
 * overlap. No malloc, no interpreter, no floating point; not reentrant.
 *
 * Ops: {", ".join(ops)}. */"""


def _constants(graph, steps) -> tuple:
    parts, total, seen = [], 0, set()
    for step in steps:
        for array in step.arrays:
            if array.ctype == "broadcast_shape":
                parts.append(broadcast_struct(array.name, array.values))
                total += 72
            else:
                parts.append(c_array(array.name, array.ctype, array.values, array.comment))
                total += array.values.size * (1 if array.ctype == "int8_t" else 4)
        for t in step.reads:
            tensor = graph.tensors[t]
            if tensor.constant and t not in seen:
                seen.add(t)
                parts.append(c_array(f"constant_{t}", "int8_t", tensor.data, f"{tensor.name} {list(tensor.shape)}"))
                total += tensor.size
        if step.params_type:
            parts.append(c_struct(f"op{step.op.index}_params", step.params_type, step.params))
            total += 4 * sum(len(v) if isinstance(v, (list, tuple)) else 1 for v in step.params.values())
    return "\n\n".join(parts), total


def _arena(name: str, arena_bytes: int) -> str:
    words = max(1, (arena_bytes + 3) // 4)
    return (f"/* ==== Memory plan ================================================================= */\n"
            f"/* Every intermediate tensor, at the offset the plan gave it (int32_t words: 4-byte aligned). */\n"
            f"static int32_t {name}_arena[{words}];")


def _pointer(plan, graph, t: int) -> str:
    if graph.tensors[t].constant:
        return f"constant_{t}"
    storage, offset = plan.location[t]
    return "output" if storage == "output" else f"arena + {offset}"


def _predict(name, graph, steps, plan) -> str:
    lines = []
    for i, step in enumerate(steps):
        out = graph.tensors[step.output]
        shapes = ", ".join(str(list(graph.tensors[t].shape)) for t in step.reads if not graph.tensors[t].constant)
        lines.append(f"  /* {step.op.index}: {step.op.op}, Keras layer '{comment_text(step.layer, 80)}': "
                     f"{comment_text(shapes, 60)} -> {list(out.shape)} */")
        reads = [_pointer(plan, graph, t) for t in step.reads]
        target = _pointer(plan, graph, step.output)
        params = f"&op{step.op.index}_params"
        if step.alias:
            if i in plan.copies:
                lines.append(f"  memcpy({target}, {reads[0]}, {out.nbytes});")
            else:
                lines.append("  /* (the same bytes, another shape: nothing to do) */")
        elif step.kernel == "broadcast_binary":
            shape, function = step.arguments
            lines.append(f"  broadcast_binary({shape}, {function}, {params}, {reads[0]}, {reads[1]}, {target});")
        elif step.kernel == "concatenation_s8":
            lines.append(f"  {{\n    const int8_t *const inputs[{len(reads)}] = {{{', '.join(reads)}}};\n"
                         f"    concatenation_s8({params}, inputs, {target});\n  }}")
        else:
            lines.append(f"  {step.kernel}({', '.join([params, *reads, *step.arguments, target])});")
        lines.append(f"  {name}_AFTER_OP({step.op.index}, {target}, {out.nbytes});")
    x = graph.inputs[0]
    at = _pointer(plan, graph, x)
    return (f"/* ==== Inference ===================================================================== */\n"
            f"/* To look at each op's output (e.g. to compare it with TFLite Micro's), define\n"
            f" * {name}_AFTER_OP(op, data, bytes) when compiling this file; it is called after each op. */\n"
            f"#ifndef {name}_AFTER_OP\n#define {name}_AFTER_OP(op, data, bytes) ((void)0)\n#endif\n\n"
            f"int8_t *{name}_input(void) {{\n  int8_t *const arena = (int8_t *){name}_arena;\n  return {at};\n}}\n\n"
            f"int {name}_predict(const int8_t *input, int8_t *output) {{\n"
            f"  int8_t *const arena = (int8_t *){name}_arena;\n"
            f"  if (input == 0 || output == 0) return -1;\n"
            f"  /* the input tensor lives in the arena: a caller that filled {name}_input() has nothing to copy */\n"
            f"  if (input != {at}) memcpy({at}, input, {graph.tensors[x].nbytes});\n"
            + "\n".join(lines) + "\n  return 0;\n}")


def _header(name, origin, digest, specs, arena_bytes, ops, input_note) -> str:
    guard = f"{name.upper()}_H_"
    x, y = specs
    note = f"\n * The model's input: {input_note}." if input_note else ""
    return f"""/* {name}.h: the C engine of an int8 model, generated by {GENERATOR}
 * from {origin} (sha256 {digest}...); do not edit it, generate it again.
 * Compile {name}.c with any C99 compiler; it needs <stdint.h> and <string.h>, nothing else. */
#ifndef {guard}
#define {guard}

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

/* Input: int8 {list(x.shape)}, scale {c_float(x.scale)[:-1]}, zero point {x.zero_point}:
 * q = round(value / scale) + zero point, clamped to [-128, 127].{note} */
#define {name}_INPUT_BYTES {x.bytes}
#define {name}_INPUT_SCALE {c_float(x.scale)}
#define {name}_INPUT_ZERO_POINT ({x.zero_point})

/* Output: int8 {list(y.shape)}, scale {c_float(y.scale)[:-1]}, zero point {y.zero_point}:
 * value = scale * (q - zero point). */
#define {name}_OUTPUT_BYTES {y.bytes}
#define {name}_OUTPUT_SCALE {c_float(y.scale)}
#define {name}_OUTPUT_ZERO_POINT ({y.zero_point})

/* RAM of the static memory plan ({name}.c's arena, in .bss), the input tensor included.
 * The stack comes on top, and the caller's output buffer. */
#define {name}_ARENA_BYTES {arena_bytes}

/* Where {name}_predict keeps its input, in the arena: write the input there and call
 * {name}_predict({name}_input(), output) to need no input buffer of your own. */
int8_t *{name}_input(void);

/* Runs one inference: reads {name}_INPUT_BYTES bytes at input ({name}_input() or a buffer
 * of yours), writes {name}_OUTPUT_BYTES bytes at output (the two must not overlap).
 * Returns 0, or -1 if a pointer is NULL. Not reentrant: it works in one static arena, which
 * also holds the input; after a call, {name}_input() holds other values.
 * Ops: {", ".join(ops)}. */
int {name}_predict(const int8_t *input, int8_t *output);

#ifdef __cplusplus
}}
#endif

#endif /* {guard} */
"""
