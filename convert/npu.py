"""Arm Ethos-U NPUs through Vela (PyPI `ethos-u-vela`, the `npu` extra): `convert micro --npu
ethos-u55-128` compiles the batch-1 int8 model for the NPU and reports what Vela estimates:
SRAM and flash used, cycles and inference time at the system's clock, and the ops that stay
on the CPU.

Nothing here runs the NPU's output: it runs only on an Ethos-U, through TFLite Micro's
ethos-u kernel and Arm's driver. Every figure is Vela's estimate for its default system
configuration of that NPU (which the report names), not a measurement."""

from __future__ import annotations

import csv
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from runtime.errors import ToolkitError, one_line

NPUS = ("ethos-u55-32", "ethos-u55-64", "ethos-u55-128", "ethos-u55-256", "ethos-u65-256", "ethos-u65-512",
        "ethos-u85-128", "ethos-u85-256", "ethos-u85-512", "ethos-u85-1024", "ethos-u85-2048")
"""Vela's --accelerator-config values."""
VELA_TIMEOUT_S = 600
_CPU_OP = re.compile(r"^\s*CPU: (\w+) = (.*?) \(outputs")


class NpuUnavailable(ToolkitError):
    """Vela is not installed, or failed on the model."""


@dataclass(frozen=True)
class VelaReport:
    """Vela's compilation of one model for one NPU."""

    npu: str
    file: str
    """The compiled model, relative to the models folder: it runs only on that NPU."""
    vela: str
    system_config: str
    memory_mode: str
    clock_hz: float
    sram_bytes: int
    flash_bytes: int
    """Flash (on- or off-chip) Vela placed the weights and command stream in."""
    dram_bytes: int
    """DRAM instead, in the systems that have it (Ethos-U65's)."""
    cycles: int
    inference_time_s: float
    npu_ops: int
    cpu_ops: list = field(default_factory=list)
    """[op, layer] of each op left on the CPU (TFLite Micro's kernels run it)."""

    def to_json(self) -> dict:
        return dict(asdict(self), estimated_by="Vela, not measured: nothing here runs an Ethos-U")

    def lines(self) -> list:
        npu = self.npu.replace("ethos-u", "Ethos-U")
        total = self.npu_ops + len(self.cpu_ops)
        lines = [f"  NPU {npu} (Vela {self.vela}, {self.system_config} at {self.clock_hz / 1e6:g} MHz): {self.npu_ops} of "
                 f"{total} ops on the NPU; SRAM {self.sram_bytes:,} bytes, flash {self.flash_bytes:,} bytes"
                 + (f", DRAM {self.dram_bytes:,} bytes" if self.dram_bytes else "") + "; "
                 f"{self.cycles:,} cycles, {self.inference_time_s * 1e3:.3g} ms per inference (Vela's estimate: "
                 f"nothing here runs the NPU's output, {self.file})"]
        if self.cpu_ops:
            lines.append("  NPU: left on the CPU: " + ", ".join(f"{op} ({layer})" for op, layer in self.cpu_ops))
        return lines


def check_vela() -> None:
    """NpuUnavailable, saying what to install, when Vela is missing."""
    if importlib.util.find_spec("ethosu") is None or importlib.util.find_spec("ethosu.vela") is None:
        raise NpuUnavailable("--npu compiles with Arm's Vela: pip install 'edge-mnist[npu]' (or pip install ethos-u-vela)")


def compile_for_npu(model: Path, npu: str, output: Path, file: str) -> VelaReport:
    """Vela on the .tflite `model` for `npu` (one of NPUS); the compiled model is written to
    `output` (recorded as `file`)."""
    from convert.c_engine.graph import keras_layer

    if npu not in NPUS:
        raise ValueError(f"npu: got {npu!r}, expected one of {', '.join(NPUS)}")
    check_vela()
    with tempfile.TemporaryDirectory(prefix="vela-") as folder:
        source = Path(folder) / "model.tflite"
        shutil.copyfile(model, source)
        command = [sys.executable, "-m", "ethosu.vela", str(source), "--accelerator-config", npu, "--output-dir",
                   str(Path(folder) / "out"), "--show-cpu-operations"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=VELA_TIMEOUT_S)
        except subprocess.TimeoutExpired as err:
            raise NpuUnavailable(f"Vela did not finish within {VELA_TIMEOUT_S} s") from err
        summaries = sorted((Path(folder) / "out").glob("model_summary_*.csv"))
        compiled = Path(folder) / "out" / "model_vela.tflite"
        if done.returncode != 0 or not summaries or not compiled.is_file():
            raise NpuUnavailable(f"Vela failed on the model: {one_line(done.stderr or done.stdout)[-500:]}")
        with open(summaries[0], newline="") as f:
            row = next(csv.DictReader(f))
        shutil.copyfile(compiled, output)
    cpu_ops = [[m[1], keras_layer(m[2])] for m in map(_CPU_OP.match, done.stdout.splitlines()) if m]
    npu_ops = re.search(r"NPU operators = (\d+)", done.stdout)
    version = subprocess.run([sys.executable, "-m", "ethosu.vela", "--version"], capture_output=True, text=True, timeout=60)
    return VelaReport(
        npu=npu, file=file, vela=version.stdout.strip() or "?", system_config=row["system_config"],
        memory_mode=row["memory_mode"], clock_hz=float(row["core_clock"]),
        sram_bytes=round(float(row["sram_memory_used"]) * 1024),
        flash_bytes=round((float(row["off_chip_flash_memory_used"]) + float(row["on_chip_flash_memory_used"])) * 1024),
        dram_bytes=round(float(row["dram_memory_used"]) * 1024),
        cycles=round(float(row["cycles_total"])), inference_time_s=float(row["inference_time"]),
        npu_ops=int(npu_ops[1]) if npu_ops else 0, cpu_ops=cpu_ops)
