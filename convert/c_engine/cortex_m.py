"""A generated C engine cross-compiled for Cortex-M with Debian's arm-none-eabi-gcc and
picolibc, and run on QEMU's emulated mps2 boards through a semihosting harness
(harness.c): the outputs, the flash and RAM from the ELF (arm-none-eabi-size), the stack
the inference used, and the instructions it executed (SysTick under `-icount shift=0`).

QEMU is not cycle-accurate: an instruction count is work done, not a board's time."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional

import numpy as np

from .generator import CEngine

DEBIAN_PACKAGES = "gcc-arm-none-eabi picolibc-arm-none-eabi qemu-system-arm"
INSTRUCTIONS_PER_TICK = 40
"""SysTick counts the 25 MHz processor clock of the mps2 boards; with -icount shift=0 QEMU runs
one instruction per virtual nanosecond, so a tick is 40 instructions (measured: a loop of
2,000,000 instructions read 50,000 ticks on mps2-an385 and mps2-an386)."""
STACK_BYTES = 0x10000
"""The harness's stack (64 KiB): painted before each inference to measure what it used."""
QEMU_TIMEOUT_S = 1800
COMPILE_TIMEOUT_S = 600
C_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-mthumb")


@dataclass(frozen=True)
class Core:
    """A Cortex-M core and the QEMU board that emulates it."""

    name: str
    cpu_flags: tuple
    board: str
    description: str


CORES = {
    "cortex-m4f": Core("cortex-m4f", ("-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"), "mps2-an386",
                       "Cortex-M4 with FPU (mps2-an386)"),
    "cortex-m3": Core("cortex-m3", ("-mcpu=cortex-m3", "-mfloat-abi=soft"), "mps2-an385",
                      "Cortex-M3, no FPU (mps2-an385)"),
}


class ToolchainMissing(RuntimeError):
    """arm-none-eabi-gcc, picolibc or qemu-system-arm is not installed."""


@dataclass(frozen=True)
class Toolchain:
    gcc: str
    size: str
    qemu: str


def find_toolchain() -> Toolchain:
    """The cross compiler, its size tool and QEMU, or ToolchainMissing saying what to install."""
    found = {tool: shutil.which(tool) for tool in ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")}
    missing = [tool for tool, path in found.items() if path is None]
    if missing:
        raise ToolchainMissing(f"{', '.join(missing)} not found: install Debian's {DEBIAN_PACKAGES} "
                               "(bash scripts/setup.sh does)")
    return Toolchain(found["arm-none-eabi-gcc"], found["arm-none-eabi-size"], found["qemu-system-arm"])


@dataclass(frozen=True)
class Sizes:
    """arm-none-eabi-size's Berkeley figures, in bytes."""

    text: int
    data: int
    bss: int

    @property
    def flash(self) -> int:
        """Code and constants, plus the initial values of .data."""
        return self.text + self.data

    @property
    def ram(self) -> int:
        """Static RAM: .data and .bss (the stack comes on top)."""
        return self.data + self.bss


@dataclass(frozen=True)
class Build:
    core: Core
    elf: Path
    engine: Sizes
    """NAME.c's own object: its flash (kernels, weights, constants) and static RAM (the arena)."""
    program: Sizes
    """The whole harness ELF, with picolibc's stdio and semihosting."""


@dataclass(frozen=True)
class Run:
    outputs: np.ndarray
    """int8 (n, OUTPUT_BYTES)."""
    instructions: Optional[list]
    """Per inference (SysTick ticks x INSTRUCTIONS_PER_TICK), or None without -icount."""
    stack_bytes: int
    """The stack the first inference used below the harness's stack pointer (no interrupt on)."""


def _compile(toolchain: Toolchain, core: Core, arguments: list, folder: Path) -> None:
    link = [f"-Wl,--defsym={k}={v}" for k, v in (("__flash", "0x0"), ("__flash_size", "0x400000"),
                                                 ("__ram", "0x20000000"), ("__ram_size", "0x400000"),
                                                 ("__stack_size", hex(STACK_BYTES)))]
    command = [toolchain.gcc, *C_FLAGS, *core.cpu_flags, "--specs=picolibc.specs", "--oslib=semihost",
               "--crt0=semihost", *link, *arguments]
    try:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"arm-none-eabi-gcc did not finish within {COMPILE_TIMEOUT_S} s") from err
    if done.returncode != 0:
        raise RuntimeError("arm-none-eabi-gcc failed: " + " | ".join(done.stderr.strip().splitlines()[-6:]))


def _sizes(toolchain: Toolchain, path: Path) -> Sizes:
    done = subprocess.run([toolchain.size, "-B", str(path)], capture_output=True, text=True, timeout=60)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or len(lines) < 2:
        raise RuntimeError(f"arm-none-eabi-size failed on {path.name}: {done.stderr.strip()}")
    text, data, bss = (int(v) for v in lines[1].split()[:3])
    return Sizes(text, data, bss)


def build(engine: CEngine, folder, core: str = "cortex-m4f") -> Build:
    """Writes the engine and the harness into `folder`, cross-compiles them for `core` (a
    key of CORES), and measures the engine's object and the whole ELF."""
    if core not in CORES:
        raise ValueError(f"core: got {core!r}, expected one of {', '.join(CORES)}")
    toolchain, target, folder = find_toolchain(), CORES[core], Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{engine.name}.c").write_text(engine.source)
    (folder / f"{engine.name}.h").write_text(engine.header)
    (folder / "harness.c").write_text((resources.files("convert.c_engine") / "harness.c").read_text(encoding="utf-8"))
    _compile(toolchain, target, ["-c", f"{engine.name}.c", "-o", f"{engine.name}.o"], folder)
    elf = folder / f"{engine.name}_{core}.elf"
    _compile(toolchain, target, [f"-DENGINE={engine.name}", f'-DENGINE_HEADER="{engine.name}.h"',
                                 f"-DHARNESS_STACK_BYTES={STACK_BYTES}u", "harness.c", f"{engine.name}.o",
                                 "-o", elf.name], folder)
    return Build(target, elf, _sizes(toolchain, folder / f"{engine.name}.o"), _sizes(toolchain, elf))


_LINE = re.compile(r"^inference (\d+) ticks (\d+)$")
_STACK = re.compile(r"^stack (\d+)$", re.M)


def run(built: Build, inputs: np.ndarray, count_instructions: bool = True, timeout: float = QEMU_TIMEOUT_S) -> Run:
    """Runs the harness on QEMU's board for the core, one inference per row of `inputs`
    (int8, INPUT_BYTES each)."""
    toolchain = find_toolchain()
    inputs = np.ascontiguousarray(inputs, np.int8).reshape(len(inputs), -1)
    with tempfile.TemporaryDirectory(prefix="cortex-m-") as work:
        (Path(work) / "input.bin").write_bytes(inputs.tobytes())
        command = [toolchain.qemu, "-M", built.core.board, "-nographic", "-monitor", "none",
                   "-semihosting-config", "enable=on,target=native", *(["-icount", "shift=0"] if count_instructions else []),
                   "-kernel", str(built.elf.resolve())]
        try:
            done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise RuntimeError(f"QEMU ({built.core.board}) did not finish {len(inputs)} inferences within {timeout:g} s") from err
        # semihosting writes the harness's printf to QEMU's stderr
        printed = (done.stdout + done.stderr).replace("\r", "")
        ticks = [int(m[2]) for m in map(_LINE.match, printed.splitlines()) if m]
        stack = _STACK.search(printed)
        if done.returncode != 0 or len(ticks) != len(inputs) or stack is None:
            tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-4:])
            raise RuntimeError(f"the harness on {built.core.board} exited with status {done.returncode} after "
                               f"{len(ticks)} of {len(inputs)} inferences: {tail}")
        outputs = np.frombuffer((Path(work) / "output.bin").read_bytes(), np.int8).reshape(len(inputs), -1)
    instructions = [t * INSTRUCTIONS_PER_TICK for t in ticks] if count_instructions else None
    return Run(outputs.copy(), instructions, int(stack[1]))


@dataclass(frozen=True)
class Emulated:
    """The engine built for one core and run on its emulated board."""

    core: Core
    outputs: np.ndarray
    engine: Sizes
    """NAME.c's object: flash (text + data) and static RAM (bss: the arena)."""
    stack_bytes: int
    instructions: int
    """Median over the inferences."""
    compiler: str
    """arm-none-eabi-gcc's version."""


def emulate(engine: CEngine, inputs: np.ndarray, core: str = "cortex-m4f") -> Emulated:
    """build() and run() in a temporary folder: the figures a summary quotes."""
    with tempfile.TemporaryDirectory(prefix="c-engine-") as folder:
        built = build(engine, folder, core)
        done = run(built, inputs)
    version = subprocess.run([find_toolchain().gcc, "-dumpversion"], capture_output=True, text=True, timeout=60)
    return Emulated(built.core, done.outputs, built.engine, done.stack_bytes, int(np.median(done.instructions)),
                    f"arm-none-eabi-gcc {version.stdout.strip()}")
