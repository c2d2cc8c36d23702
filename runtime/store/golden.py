"""The golden set a model file carries, so that a device checks the file with nothing else
(`python -m runtime parity FILE`), as ExecuTorch's BundledProgram carries its test cases: a few
reference images, the Keras model's probabilities on them, and this same file's outputs on the
workstation that converted it. `convert` chooses the images (convert/golden.py) and places the
set in the file (convert/embed.py); store/embedded.py finds it in a file; the device's verdict
on it is runtime/evaluate/golden.py's. This module is the format, written and read here only.

The set is an .npz archive (numpy's own: `np.load` reads it once it is out of the file) of
- inputs.npy: uint8 (N, *image_shape), the images as the input contract takes them;
- keras.npy: float32 (N, classes), the Keras model's probabilities;
- outputs.npy: float32 (N, classes), the file's outputs on the workstation, after embedding;
- about.json: why each image is there, the conversion's verdict on the whole reference bundle,
  the file's largest |Δp| there, its output's quantization step, where it ran, and the sha256
  of the model bytes it was recorded for.

Reading is bounded before anything is decompressed or allocated: the archive's size, each
member's declared size, the number of images and the header of each array (its dtype and shape
must be what this format writes, and its bytes exactly what they declare)."""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..errors import ModelFileError

FORMAT = "edge-mnist golden set"
VERSION = 1
ARRAYS = {"inputs": np.dtype(np.uint8), "keras": np.dtype("<f4"), "outputs": np.dtype("<f4")}
"""The arrays of a set and their dtypes, as written (little-endian, C order)."""
ABOUT = "about.json"
MAX_IMAGES = 1024
MAX_CLASSES = 100_000
MAX_ABOUT_BYTES = 256 << 10
MAX_TEXT_CHARS = 100
"""The precision, the sha256 and each workstation field: a short line of printable text."""
MAX_ARRAY_BYTES = 64 << 20
"""Decompressed, all arrays together: 64 MiB (1,024 images of 128x128x3 pixels, with room)."""
READABLE_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
REASONS = {
    "disagrees": "where this file's top-1 differs from Keras's",
    "near-tie": "nearest a tie between this file's two best classes",
    "largest-dp": "with this file's largest |Δp| against Keras",
    "ordinary": "ordinary (one per class, as sure as its class's median image)",
    "spread": "spread evenly over the rest",
}
"""Why an image is in the set, in the order they are chosen (convert/golden.py)."""


class GoldenSetError(ModelFileError):
    """A file's golden set is missing a part, damaged, altered or not this file's."""


@dataclass(frozen=True)
class GoldenSet:
    """The images, the two sets of outputs, and what the check on a device needs to know."""

    inputs: np.ndarray
    """uint8 (N, *image_shape)."""
    keras: np.ndarray
    """float32 (N, classes): the Keras model's probabilities."""
    outputs: np.ndarray
    """float32 (N, classes): this file's, on the workstation, after the set was embedded."""
    reasons: tuple
    """Why each image is in the set: a key of REASONS."""
    precision: str
    graph_sha256: str
    """sha256 of the file's model bytes, outside its metadata archive (TFLite) or metadata_props (ONNX)."""
    verdict: dict = field(default_factory=dict)
    """The conversion's verdict on the reference bundle (runtime.verdict.Verdict.to_json)."""
    limits: dict = field(default_factory=dict)
    """The limits it was judged with (runtime.verdict.Limits.to_json)."""
    max_abs_dp: float = 0.0
    """The file's largest |Δp| against Keras on the whole reference bundle: how far its own
    precision moved any probability there."""
    output_step: Optional[float] = None
    """The quantization step of the file's probabilities (1/256 for an int8 softmax), when they are quantized."""
    workstation: dict = field(default_factory=dict)
    """Where `outputs` were computed: backend, machine, Python, numpy."""
    reference_index: tuple = ()
    """Each image's index in the reference bundle it came from."""

    @property
    def images(self) -> int:
        return len(self.inputs)

    def counts(self) -> dict:
        """Reason -> number of images, in REASONS's order."""
        return {reason: self.reasons.count(reason) for reason in REASONS if reason in self.reasons}

    def describe_reasons(self) -> str:
        """"4 where this file's top-1 differs from Keras's, 8 nearest a tie ..."."""
        return ", ".join(f"{count} {REASONS[reason]}" for reason, count in self.counts().items())

    def about(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "images": self.images, "reasons": list(self.reasons),
                "precision": self.precision, "graph_sha256": self.graph_sha256, "verdict": self.verdict,
                "limits": self.limits, "max_abs_dp": self.max_abs_dp, "output_step": self.output_step,
                "workstation": self.workstation, "reference_index": list(self.reference_index)}

    def to_bytes(self) -> bytes:
        """The .npz archive, deflated, its entries dated 1980 so that the same set gives the same bytes."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for name, dtype in ARRAYS.items():
                array = io.BytesIO()
                np.lib.format.write_array(array, np.ascontiguousarray(getattr(self, name), dtype=dtype), allow_pickle=False)
                archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), array.getvalue(),
                                 compress_type=zipfile.ZIP_DEFLATED)
            archive.writestr(zipfile.ZipInfo(ABOUT, date_time=(1980, 1, 1, 0, 0, 0)),
                             json.dumps(self.about(), sort_keys=True).encode("utf-8"), compress_type=zipfile.ZIP_DEFLATED)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "GoldenSet":
        """The set in `data` (to_bytes's archive); GoldenSetError saying what is wrong with it."""
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                about = _about(json.loads(_member(archive, ABOUT, MAX_ABOUT_BYTES)))
                budget = MAX_ARRAY_BYTES
                arrays = {}
                for name, dtype in ARRAYS.items():
                    arrays[name] = _array(_member(archive, f"{name}.npy", budget), name, dtype)
                    budget -= arrays[name].nbytes
                extra = sorted(set(archive.namelist()) - {ABOUT, *(f"{name}.npy" for name in ARRAYS)})
        except GoldenSetError:
            raise
        except (zipfile.BadZipFile, ValueError, EOFError, OSError, NotImplementedError, RecursionError) as err:
            raise GoldenSetError(f"is not a readable archive ({' '.join(str(err).split())[:200]})") from err
        if extra:
            raise GoldenSetError(f"holds files this format does not write: {', '.join(extra)[:200]}")
        golden = cls(reasons=tuple(about.pop("reasons")), reference_index=tuple(about.pop("reference_index")),
                     **arrays, **about)
        check_consistent(golden)
        return golden


def _member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """One member's bytes: at most `limit` declared and read, stored or deflated."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise GoldenSetError(f"has no {name}") from None
    if info.file_size > limit:
        raise GoldenSetError(f"declares its {name} {info.file_size:,} bytes long, more than the {limit:,} allowed")
    if info.compress_type not in READABLE_COMPRESSION:
        raise GoldenSetError(f"compresses its {name} with zip method {info.compress_type}; expected stored or deflated")
    with archive.open(info) as entry:
        data = entry.read(limit + 1)
    if len(data) > limit:
        raise GoldenSetError(f"holds more than the {limit:,} bytes allowed in its {name}")
    return data


def _array(data: bytes, name: str, dtype: np.dtype) -> np.ndarray:
    """An .npy member of the dtype this format writes, C order, whose bytes are exactly what its header declares."""
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, found = reader(stream)
    if found != dtype or fortran:
        raise GoldenSetError(f"holds {name} as {found}{' (Fortran order)' if fortran else ''}; expected {dtype}")
    if not (2 <= len(shape) <= 4 and all(isinstance(n, int) and n >= 1 for n in shape)):
        raise GoldenSetError(f"holds {name} of shape {shape}; expected (images, ...) with every size at least 1")
    size = math.prod(shape) * dtype.itemsize
    if size != len(data) - stream.tell():
        raise GoldenSetError(f"declares {name} of shape {shape} ({size:,} bytes) but holds {len(data) - stream.tell():,}")
    return np.frombuffer(data, dtype, offset=stream.tell()).reshape(shape)


def _about(about) -> dict:
    """about.json's fields, each of the type this format writes; GoldenSetError otherwise."""
    if not isinstance(about, dict) or about.get("format") != FORMAT or about.get("version") != VERSION:
        raise GoldenSetError(f"is not an {FORMAT} of version {VERSION}")
    kinds = {"images": int, "reasons": list, "precision": str, "graph_sha256": str, "verdict": dict, "limits": dict,
             "max_abs_dp": (int, float), "output_step": (int, float, type(None)), "workstation": dict,
             "reference_index": list}
    wrong = [key for key, kind in kinds.items() if not isinstance(about.get(key), kind) or isinstance(about.get(key), bool)]
    if wrong:
        raise GoldenSetError(f"has a missing or malformed {', '.join(wrong)} in its {ABOUT}")
    texts = [about["precision"], about["graph_sha256"], *about["workstation"].values()]
    if not all(isinstance(text, str) and len(text) <= MAX_TEXT_CHARS and text.isprintable() for text in texts):
        raise GoldenSetError(f"has a precision, sha256 or workstation in its {ABOUT} that is not one short line of text")
    n = about["images"]
    if not 1 <= n <= MAX_IMAGES:
        raise GoldenSetError(f"declares {n:,} images; expected 1 to {MAX_IMAGES:,}")
    if len(about["reasons"]) != n or not all(reason in REASONS for reason in about["reasons"]):
        raise GoldenSetError(f"gives no known reason for each of its {n} images")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in about["reference_index"]):
        raise GoldenSetError("has a malformed reference_index")
    step = about["output_step"]
    if not (math.isfinite(about["max_abs_dp"]) and about["max_abs_dp"] >= 0 and (step is None or (math.isfinite(step) and step > 0))):
        raise GoldenSetError(f"has a max_abs_dp or output_step that is not a finite number >= 0 in its {ABOUT}")
    return {key: about[key] for key in kinds if key != "images"}


def check_consistent(golden: GoldenSet) -> None:
    """The arrays agree with each other and with about.json: N images everywhere, the same
    classes in both outputs, finite probabilities. GoldenSetError otherwise."""
    n = len(golden.reasons)
    shapes = {name: getattr(golden, name).shape for name in ARRAYS}
    if any(shape[0] != n for shape in shapes.values()) or golden.keras.shape != golden.outputs.shape or golden.keras.ndim != 2:
        raise GoldenSetError(f"does not hold the same {n} images throughout: inputs {shapes['inputs']}, "
                             f"Keras outputs {shapes['keras']}, the workstation's {shapes['outputs']}")
    if golden.keras.shape[1] > MAX_CLASSES:
        raise GoldenSetError(f"declares {golden.keras.shape[1]:,} classes; expected at most {MAX_CLASSES:,}")
    for name in ("keras", "outputs"):
        if not np.isfinite(getattr(golden, name)).all():
            raise GoldenSetError(f"holds NaN or infinite values in its {'Keras' if name == 'keras' else 'workstation'} outputs")
