"""Reading back what `python -m convert micro` generated for a C++ build: the model's bytes
in `<stem>_model_data.cc` and the arena constant in its header."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

_ARRAY = re.compile(r"\{(.*?)\};", re.S)
_ARENA = re.compile(r"_arena_bytes = (\d+);")


def read_model_array(source) -> bytes:
    """The bytes of the model array in a generated `<stem>_model_data.cc`."""
    text = Path(source).read_text()
    match = _ARRAY.search(text)
    if match is None:
        raise ValueError(f"{source}: no array initializer found")
    return bytes(int(v, 16) for v in re.findall(r"0x([0-9a-fA-F]{2})", match.group(1)))


def read_arena_constant(header) -> Optional[int]:
    """The `..._arena_bytes = N;` a generated header declares, or None when it declares none."""
    declared = _ARENA.search(Path(header).read_text())
    return int(declared.group(1)) if declared else None
