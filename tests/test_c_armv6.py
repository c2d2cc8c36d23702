"""What an ARMv6 Raspberry Pi's own compiler makes of a C engine: the Pi Zero, Zero W and 1
(an ARM1176JZF-S) run only the 32-bit Raspberry Pi OS, which is Debian rebuilt for ARMv6; its
gcc is configured --with-arch=armv6 --with-fpu=vfp --with-float=hard, in ARM mode.

Checked here: the same C99, compiled with the runtime's own flags (DEVICE_FLAGS) and those
ARMv6 settings by Debian's gcc for armhf, runs on qemu's emulated ARM1176 (`qemu-arm -cpu
arm1176`) and gives the host's bytes (the runtime's `c` backend on this machine) on every
reference image of the seed MLP, and on random inputs of the coverage model (every kernel, the
integer divisions among them). Debian's armhf libc and libgcc are ARMv7 code, which that core
stops on, so the engine runs inside a harness of raw system calls (tests/armv6_harness.c) that
brings _start, memcpy, memset and the EABI's division itself. Built for Debian's own armhf
(ARMv7, Thumb-2) instead, the same program stops there on an illegal instruction: the emulated
core is an ARMv6 one.

Not checked: Raspberry Pi OS's own gcc and glibc, and Python, numpy, dlopen and ctypes on
ARMv6 (on emulated Debian armhf, ARMv7, tests/test_pi_emulation.py runs all of them)."""

from __future__ import annotations

import resource
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from runtime.backends.c_compiler import DEVICE_FLAGS
from test_c_engine import coverage_models, random_inputs  # noqa: F401  (a fixture of that module, used here)

GCC = "arm-linux-gnueabihf-gcc"
QEMU = ("qemu-arm-static", "qemu-arm")
ARMV6 = ("-march=armv6", "-mfpu=vfp", "-mfloat-abi=hard", "-marm")
"""Raspberry Pi OS's 32-bit gcc's defaults (its --with-arch, --with-fpu and --with-float; ARM mode)."""
DEBIAN_ARMHF = ()
"""Debian's armhf gcc's own defaults: ARMv7-A, VFPv3-D16, Thumb-2."""
HARNESS = ROOT / "tests" / "armv6_harness.c"
SIGILL = -4

pytestmark = pytest.mark.emulation  # qemu-arm's ARM1176, as tests/test_pi_emulation.py's Pis


def tool(names) -> str:
    found = next((shutil.which(name) for name in names if shutil.which(name)), None)
    assert found, f"{' or '.join(names)} not found: bash scripts/setup.sh installs Debian's gcc-arm-linux-gnueabihf, " \
                  "libc6-dev-armhf-cross and qemu-user-static"
    return found


def build(engine_source: str, header: str, name: str, folder: Path, arch: tuple) -> Path:
    """The engine compiled as a device compiles it (DEVICE_FLAGS, the C library's headers) for
    `arch`, linked with the harness and no C library."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.c").write_text(engine_source)
    (folder / f"{name}.h").write_text(header)
    gcc = tool([GCC])
    steps = [
        [gcc, *DEVICE_FLAGS, *arch, "-c", f"{name}.c", "-o", "engine.o"],
        [gcc, *DEVICE_FLAGS, "-Wall", "-Wextra", "-Werror", *arch, "-ffreestanding", "-fno-tree-loop-distribute-patterns",
         f"-DENGINE={name}", f'-DENGINE_HEADER="{name}.h"', "-I.", "-c", str(HARNESS), "-o", "harness.o"],
        [gcc, "-nostdlib", "-static", "-o", "program", "harness.o", "engine.o"],
    ]
    for command in steps:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(command)}:\n{done.stderr[-3000:]}"
    return folder / "program"


def run(program: Path, x: np.ndarray, cpu: str) -> subprocess.CompletedProcess:
    """The program under qemu user mode on `cpu`, the int8 inputs on its stdin (no core file)."""
    return subprocess.run([tool(QEMU), "-cpu", cpu, str(program)], input=np.ascontiguousarray(x).tobytes(),
                          capture_output=True, timeout=600,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)))


def outputs(done: subprocess.CompletedProcess, count: int) -> np.ndarray:
    assert done.returncode == 0, f"exit status {done.returncode}: {done.stderr.decode(errors='replace')[-2000:]}"
    return np.frombuffer(done.stdout, np.int8).reshape(count, -1)


@pytest.fixture(scope="module")
def seed_engine(micro_models, reference):
    """The seed MLP's C engine as `convert micro` wrote it, the reference images as its int8
    input, and the runtime's `c` backend's outputs for them on this machine."""
    import runtime

    models, _ = micro_models
    model = runtime.load(models / "micro" / "mnist_mlp_int8.c")
    x = model.pixels_to_input(model.contract.check_shape(reference.images))
    return {"source": (models / "micro" / "mnist_mlp_int8.c").read_text(),
            "header": (models / "micro" / "mnist_mlp_int8.h").read_text(),
            "x": x, "host": model.backend.library.run(x)}


def test_the_armv6_build_gives_the_hosts_bytes_on_every_reference_image(seed_engine, tmp_path, capsys):
    program = build(seed_engine["source"], seed_engine["header"], "mnist_mlp_int8", tmp_path / "armv6", ARMV6)
    header = subprocess.run([tool(["arm-linux-gnueabihf-readelf"]), "-A", str(program)], capture_output=True, text=True).stdout
    assert "Tag_CPU_arch: v6" in header and "Thumb-2" not in header and "Tag_FP_arch: VFPv2" in header, header
    x = seed_engine["x"]
    got = outputs(run(program, x, "arm1176"), len(x))
    assert len(x) == 1000 and np.array_equal(got, seed_engine["host"])
    with capsys.disabled():
        print(f"\n[armv6] mnist_mlp_int8: {len(x)} reference images on qemu's arm1176, outputs equal to this machine's")


@pytest.mark.parametrize("variant", ["per-channel", "per-tensor"])
def test_every_kernel_built_for_armv6_gives_the_hosts_bytes(coverage_models, variant, tmp_path):  # noqa: F811
    """The coverage model: every op the engine runs, on random inputs and the extremes."""
    from convert.c_engine import generate
    from runtime.backends.c_engine import DEVICE_FLAGS as FLAGS, EngineLibrary

    engine = generate(coverage_models[variant], "coverage")
    x = random_inputs(engine.input.shape[1:], 60)
    program = build(engine.source, engine.header, "coverage", tmp_path, ARMV6)
    expected = EngineLibrary(engine.source, engine.header, "coverage", flags=FLAGS).run(x)
    assert np.array_equal(outputs(run(program, x, "arm1176"), len(x)), expected)


def test_debians_armv7_build_stops_on_the_armv6_core(seed_engine, tmp_path):
    """The control: Debian's armhf code on the emulated ARM1176 is an illegal instruction (so
    the core is strict), and the same program on a Cortex-A7 gives the host's bytes."""
    program = build(seed_engine["source"], seed_engine["header"], "mnist_mlp_int8", tmp_path, DEBIAN_ARMHF)
    x = seed_engine["x"][:10]
    assert run(program, x, "arm1176").returncode == SIGILL
    assert np.array_equal(outputs(run(program, x, "cortex-a7"), len(x)), seed_engine["host"][:10])
