"""What `parity` checks of a tflite-micro artifact beyond its probabilities: the generated C++
files match the model file and the manifest, and (information) how TFLM's outputs compare with
LiteRT's. The checks take the loaded runtime Model and the ParityResult they add to."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import one_line
from .c_array import read_arena_constant, read_model_array
from .litert_comparison import LiteRTComparison, compare_with_litert


def check_micro_artifact(models_dir: Path, entry, model, images: np.ndarray, result) -> None:
    """Adds to `result` (a ParityResult) what is wrong with a tflite-micro artifact (`entry`,
    a manifest Artifact; `model`, its loaded runtime Model): the C++ array holds exactly the
    model file's bytes, the header's arena constant is the manifest's; on TFLM, a note of how
    its outputs compare with LiteRT's."""
    micro = entry.micro
    if micro is None:
        result.failures.append("the manifest lists it as tflite-micro without its source, header and arena")
        return
    for key in ("source", "header", "ops_header"):
        if not getattr(micro, key) or not (models_dir / getattr(micro, key)).is_file():
            result.failures.append(f"{key} {getattr(micro, key)!r} listed in the manifest is missing")
            return
    try:
        array = read_model_array(models_dir / micro.source)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        result.failures.append(f"{micro.source}: cannot read the model array ({one_line(err)})")
        return
    if array != Path(model.path).read_bytes():
        result.failures.append(f"{micro.source} does not hold the bytes of {entry.path} (re-run python -m convert micro)")
    declared = read_arena_constant(models_dir / micro.header)
    if declared != micro.arena_bytes:
        result.failures.append(f"{micro.header} declares an arena of {declared} bytes, the manifest {micro.arena_bytes}")
    if model.backend.name != "tflite-micro":
        return
    check_against_litert(model, images, result, f" (arena {model.backend.arena_bytes} bytes)")


def check_against_litert(model, images: np.ndarray, result, detail: str = "") -> Optional[LiteRTComparison]:
    """Compares TFLM's outputs with LiteRT's (compare_with_litert) and records it in `result`
    (a ParityResult) as a note: information, never a failure. Kernel libraries round int8
    differently, more so through deep graphs; TFLM is judged, like every runtime, against the
    float Keras model."""
    same = compare_with_litert(model, images, result.precision)
    if same is None:
        result.notes.append("not compared with LiteRT: ai-edge-litert is not installed")
    else:
        result.notes.append(f"TFLite Micro's {same.sentence()}{detail} (information: judged against Keras, not LiteRT)")
    return same
