"""`python -m runtime doctor`: what this device is (architecture, OS, Python, glibc, numpy,
the interpreter packages) and the install line that works on it, or why none will. Wheels
decide what can run on a Pi, so the answer comes from the wheels each package publishes on PyPI
(WHEELS, read from PyPI's index for the versions this toolkit was checked with), not from a
download attempt: the device may be offline."""

from __future__ import annotations

import platform
import struct
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Optional

PROJECT = "edge-mnist"


@dataclass(frozen=True)
class WheelSet:
    """The binary wheels one interpreter package publishes for Linux."""

    package: str
    version: str
    pythons: tuple
    """CPython minor versions with wheels, e.g. (3, 11)."""
    glibc: dict
    """Machine (platform.machine()) -> the oldest glibc its wheels accept (their manylinux tag)."""
    extra: str
    """The extra of pyproject.toml that installs it."""
    runs: str


WHEELS = (
    WheelSet("ai-edge-litert", "2.3.0", ((3, 10), (3, 11), (3, 12), (3, 13), (3, 14)),
             {"x86_64": (2, 27), "aarch64": (2, 27)}, "litert", ".tflite"),
    WheelSet("tflite-runtime", "2.14.0", ((3, 8), (3, 9), (3, 10), (3, 11)),
             {"x86_64": (2, 17), "aarch64": (2, 34), "armv7l": (2, 34)}, "tflite-runtime", ".tflite"),
    WheelSet("onnxruntime", "1.32.0", ((3, 11), (3, 12), (3, 13), (3, 14)),
             {"x86_64": (2, 28), "aarch64": (2, 28)}, "onnxruntime", ".onnx"),
)
"""From PyPI's simple index (December 2026). armv7l: only tflite-runtime, and only up to
CPython 3.11 (its last release); neither numpy nor Pillow has armv7l wheels on PyPI, so a 32-bit
Pi takes Debian's python3-numpy and python3-pil."""
NO_NUMPY_WHEELS = ("armv7l", "armv6l")


@dataclass
class Device:
    """What doctor found."""

    machine: str
    """The userland's architecture: a 32-bit Python on a 64-bit kernel reports armv7l, not aarch64."""
    os_name: str
    python: str
    python_bits: int
    glibc: Optional[str]
    packages: dict = field(default_factory=dict)
    """numpy, Pillow and the interpreter packages -> installed version (None: not installed)."""


@dataclass
class Advice:
    """The install line that works here, or why nothing will."""

    installable: list
    """Interpreter packages with a wheel for this device."""
    command: Optional[str]
    reasons: list
    """Why each other interpreter package cannot be installed here."""

    @property
    def ok(self) -> bool:
        return self.command is not None


def userland_machine() -> str:
    """platform.machine(), corrected for a 32-bit Python on a 64-bit ARM kernel (the
    64-bit-kernel 32-bit Raspberry Pi OS): what wheels must be built for."""
    machine = platform.machine()
    if struct.calcsize("P") == 4 and machine in ("aarch64", "arm64", "armv8l"):
        return "armv7l"
    return machine


def os_name() -> str:
    try:
        fields = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    except OSError:
        return f"{platform.system()} {platform.release()}"
    return fields.get("PRETTY_NAME", "unknown").strip('"')


def installed(name: str) -> Optional[str]:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def inspect_device() -> Device:
    libc, version = platform.libc_ver()
    return Device(
        machine=userland_machine(), os_name=os_name(), python=platform.python_version(),
        python_bits=struct.calcsize("P") * 8, glibc=version if libc == "glibc" else None,
        packages={name: installed(name) for name in ("numpy", "Pillow", *(w.package for w in WHEELS))})


def _glibc_tuple(text: Optional[str]) -> tuple:
    try:
        return tuple(int(part) for part in (text or "").split(".")[:2])
    except ValueError:
        return ()


def why_not(wheels: WheelSet, device: Device) -> Optional[str]:
    """None when `wheels` has one for this device, else the reason."""
    python = tuple(int(p) for p in device.python.split(".")[:2])
    if device.machine not in wheels.glibc:
        return f"{wheels.package} has no {device.machine} wheels"
    if python not in wheels.pythons:
        newest = ".".join(map(str, wheels.pythons[-1]))
        return (f"{wheels.package} {wheels.version} has {device.machine} wheels for Python "
                f"{'.'.join(map(str, wheels.pythons[0]))} to {newest}, not {device.python}")
    needed = wheels.glibc[device.machine]
    if device.glibc is None or _glibc_tuple(device.glibc) < needed:
        return f"{wheels.package}'s {device.machine} wheels need glibc {needed[0]}.{needed[1]}+, this system has {device.glibc or 'none'}"
    return None


def wheel_name() -> str:
    """The name of this toolkit's wheel, as `pip wheel` writes it."""
    version = installed(PROJECT) or "0.1.0"
    return f"{PROJECT.replace('-', '_')}-{version}-py3-none-any.whl"


def advise(device: Device) -> Advice:
    reasons = {w.package: why_not(w, device) for w in WHEELS}
    usable = [w for w in WHEELS if reasons[w.package] is None]
    tflite = [w for w in usable if w.runs == ".tflite"]
    extras = [tflite[0].extra] if tflite else []  # LiteRT first: the maintained one
    extras += [w.extra for w in usable if w.runs == ".onnx"]
    if not extras:
        return Advice([], None, [r for r in reasons.values() if r])
    pip = f'pip install "./{wheel_name()}[{",".join(extras + ["images"])}]"'
    if device.machine in NO_NUMPY_WHEELS:
        pip = ("sudo apt install python3-numpy python3-pil python3-venv && python3 -m venv --system-site-packages venv && "
               f"venv/bin/{pip}")
    skipped = [r for name, r in reasons.items() if r]
    if tflite[1:]:
        skipped.append(f"{tflite[1].package} also has a wheel here; {tflite[0].package} is the maintained one")
    return Advice([w.package for w in usable], pip, skipped)


def format_report(device: Device, advice: Advice) -> str:
    packages = ", ".join(f"{name} {version}" if version else f"{name} not installed"
                         for name, version in device.packages.items())
    lines = [
        f"Machine: {device.machine} ({device.python_bits}-bit Python)",
        f"OS: {device.os_name}",
        f"Python: {device.python} ({sys.implementation.name})",
        f"glibc: {device.glibc or 'not found (not a glibc system)'}",
        f"Packages: {packages}",
    ]
    if advice.ok:
        lines.append(f"Interpreters with wheels here: {', '.join(advice.installable)}")
        lines.append(f"Install: {advice.command}")
    else:
        lines.append("No interpreter package has a wheel for this device, so no model can run here:")
    lines += [f"  - {reason}" for reason in advice.reasons]
    if not advice.ok and device.machine in NO_NUMPY_WHEELS:
        lines.append("  A 32-bit Pi runs tflite-runtime with Python 3.11 (Raspberry Pi OS 12, bookworm); "
                     "on a Pi 3, 4 or 5 the 64-bit OS runs every interpreter.")
    return "\n".join(lines)


def report_json(device: Device, advice: Advice) -> dict:
    return {"machine": device.machine, "os": device.os_name, "python": device.python, "python_bits": device.python_bits,
            "glibc": device.glibc, "packages": device.packages, "installable": advice.installable,
            "install": advice.command, "reasons": advice.reasons}


def run(as_json: bool = False) -> int:
    """Prints the report; exit status 0 when an install line works here, 1 when none will."""
    import json

    device = inspect_device()
    advice = advise(device)
    print(json.dumps(report_json(device, advice), indent=2) if as_json else format_report(device, advice))
    return 0 if advice.ok else 1


if __name__ == "__main__":
    # Standard library only, so it also runs before anything is installed, straight from the
    # wheel: unzip -p edge_mnist-0.1.0-py3-none-any.whl runtime/doctor.py | python3 -
    sys.exit(run("--json" in sys.argv[1:]))
