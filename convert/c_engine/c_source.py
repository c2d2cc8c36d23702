"""The text of NAME.c and NAME.h: the kernel units the steps need (package data in
kernels/, split by `// unit NAME needs DEP ...` lines), the model's constants, the arena of
the memory plan, and NAME_predict calling one kernel per step.

Only validated names become C identifiers; names read from the model (tensor and layer
names) appear in comments only, reduced to characters that cannot end a comment."""

from __future__ import annotations

import re
from importlib import resources

import numpy as np

KERNEL_FILES = ("fixedpoint.c", "fixedpoint_exp.c", "window.c", "broadcast.c", "conv.c", "depthwise_conv.c",
                "fully_connected.c", "pooling.c", "add.c", "mul.c", "mean.c", "pad.c", "concatenation.c", "softmax.c",
                "logistic.c", "hard_swish.c", "requantize.c")
"""In the order the units are written out: a unit only uses units of earlier files, or
earlier in its own file."""
_UNIT = re.compile(r"^// unit (\w+)(?: needs ([\w ]+))?$")
VALUES_PER_LINE = {"int8_t": 24, "int32_t": 10}


def comment_text(text: str, limit: int = 120) -> str:
    """`text` (read from a model file) made safe inside a C comment: letters, digits, spaces
    and ._-:/[](),=<>+ only. Without '*' it cannot end or open a comment; without '\\' or
    '?' no line splice or trigraph can form."""
    safe = re.sub(r"[^A-Za-z0-9._\-:/\[\](),=<>+ ]", "_", text)
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def load_units() -> tuple:
    """(units: name -> (file, text, needs), preambles: file -> the text ahead of its first unit)."""
    units, preambles = {}, {}
    folder = resources.files("convert.c_engine") / "kernels"
    for file in KERNEL_FILES:
        current, lines = None, []
        text = (folder / file).read_text(encoding="utf-8")

        def close():
            if current is None:
                preambles[file] = "\n".join(lines).strip()
            else:
                units[current[0]] = (file, "\n".join(lines).strip(), current[1])

        for line in text.splitlines():
            match = _UNIT.match(line)
            if match:
                close()
                current, lines = (match[1], tuple((match[2] or "").split())), []
            else:
                lines.append(line)
        close()
    return units, preambles


def kernel_source(needed) -> str:
    """The units in `needed` and everything they need, in KERNEL_FILES order, with the
    comment that opens each file they come from."""
    units, preambles = load_units()
    wanted, stack = set(), list(needed)
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            stack.extend(units[name][2])
    parts, files_seen = [], set()
    for name, (file, text, _) in units.items():
        if name in wanted:
            if file not in files_seen and preambles.get(file):
                parts.append(preambles[file])
            files_seen.add(file)
            parts.append(text)
    return "\n\n".join(parts)


def c_array(name: str, ctype: str, values: np.ndarray, comment: str = "") -> str:
    flat = np.asarray(values).reshape(-1)
    per_line = VALUES_PER_LINE.get(ctype, 10)
    rows = [", ".join(str(int(v)) for v in flat[i : i + per_line]) for i in range(0, len(flat), per_line)]
    note = f"/* {comment_text(comment)} */\n" if comment else ""
    body = ",\n  ".join(rows)
    return f"{note}static const {ctype} {name}[{len(flat)}] = {{\n  {body}\n}};"


def c_struct(name: str, ctype: str, fields: dict) -> str:
    def value(v):
        if isinstance(v, str):
            return v
        if isinstance(v, (list, tuple)):
            return "{" + ", ".join(str(int(x)) for x in v) + "}"
        return str(int(v))

    body = ", ".join(f".{k} = {value(v)}" for k, v in fields.items())
    return f"static const {ctype} {name} = {{{body}}};"


def broadcast_struct(name: str, values: np.ndarray) -> str:
    out, in1, in2 = ([int(v) for v in row] for row in values)
    return (f"static const broadcast_shape {name} = {{{{{', '.join(map(str, out))}}}, "
            f"{{{', '.join(map(str, in1))}}}, {{{', '.join(map(str, in2))}}}}};")


def c_float(value: float) -> str:
    """A float constant that reads back as the same float32 (9 significant digits)."""
    text = f"{float(np.float32(value)):.9g}"
    return (text if any(c in text for c in ".en") else text + ".0") + "f"
