"""`python -m runtime doctor`: what this device is (architecture, OS, Python, glibc, numpy,
the interpreter packages) and the install line that works on it, or why none will. Wheels
decide what can run on most Pis, so the answer comes from the wheels each package publishes on
PyPI (WHEELS, read from PyPI's index for the versions this toolkit was checked with), not from a
download attempt: the device may be offline. Where pip has no onnxruntime wheel (32-bit ARM),
Debian's apt may have it (APT): doctor reads this system's own apt lists for it, and says so
when it has none to read."""

from __future__ import annotations

import gzip
import mmap
import os
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
WHEEL_OF = {w.package: w for w in WHEELS}


@dataclass(frozen=True)
class AptPackage:
    """An interpreter package a Debian release builds, where pip has no wheel of it."""

    package: str
    """The Debian package, e.g. python3-onnxruntime."""
    wheel: str
    """The PyPI package it stands for (WHEELS), whose extra the install line names."""
    version: str
    releases: dict
    """Debian release codename -> the machines (platform.machine()) its archive builds it for,
    read from that release's package lists."""


APT = (AptPackage("python3-onnxruntime", "onnxruntime", "1.21.0",
                  {"trixie": ("armv7l", "aarch64", "x86_64", "riscv64")}),)
"""From Debian's package lists (December 2026): onnxruntime 1.21.0 in Debian 13 (trixie) for
armhf, arm64, amd64 and riscv64; not in Debian 12 (bookworm). Debian's armhf is built for ARMv7:
the 32-bit Raspberry Pi OS is rebuilt for ARMv6 (Raspbian), and whether its archive carries the
package could not be checked where this toolkit was made, so a device there reads its own lists."""
APT_LISTS = Path("/var/lib/apt/lists")
LIST_ENDINGS = ("_Packages", "_Packages.gz", "_Packages.xz")
"""The lists read: plain (Debian's and Raspberry Pi OS's default), or compressed as the standard
library can read (not .lz4, Ubuntu's and Docker images' choice)."""
DPKG_ARCHITECTURES = {"armv7l": "armhf", "armv6l": "armhf", "aarch64": "arm64", "x86_64": "amd64", "riscv64": "riscv64"}
"""platform.machine() -> the dpkg architecture whose lists hold this userland's packages (the
32-bit Raspberry Pi OS calls its ARMv6 port armhf too)."""


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
    os_id: str = ""
    """/etc/os-release's ID: debian, raspbian (the 32-bit Raspberry Pi OS), ubuntu..."""
    codename: str = ""
    """/etc/os-release's VERSION_CODENAME, e.g. trixie."""
    apt: Optional[dict] = None
    """APT's packages -> the versions this system's apt lists offer (empty: none); None when
    there are no lists to read (not a Debian system, or `apt update` never ran), or no need
    (pip has the wheels)."""
    c_compiler: Optional[str] = None
    """The C compiler the runtime's `c` backend would use ($CC, else cc, gcc or clang), if any."""


@dataclass
class Advice:
    """The install line that works here, or why nothing will."""

    installable: list
    """Interpreter packages with a wheel for this device (or, from apt, its Debian package's name)."""
    command: Optional[str]
    reasons: list
    """Why each other interpreter package cannot be installed here."""
    notes: list = field(default_factory=list)
    """What the install line rests on, and what doctor could not know."""

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


def os_release() -> dict:
    """/etc/os-release's fields (empty when there is none)."""
    try:
        lines = Path("/etc/os-release").read_text().splitlines()
    except OSError:
        return {}
    return {key: value.strip('"') for key, value in (line.split("=", 1) for line in lines if "=" in line)}


def os_name(fields: Optional[dict] = None) -> str:
    fields = os_release() if fields is None else fields
    if not fields:
        return f"{platform.system()} {platform.release()}"
    return fields.get("PRETTY_NAME", "unknown")


def _stanzas(data, needle: bytes) -> bytes:
    """The stanzas of a Packages file's `data` (bytes or mmap) that start with `needle`'s line."""
    found = []
    at = 0 if data[:len(needle) - 1] == needle[1:] else data.find(needle)
    while at >= 0:
        end = data.find(b"\n\n", at + 1)
        found.append(bytes(data[at:end if end >= 0 else len(data)]))
        at = data.find(needle, at + 1)
    return b"\n".join(found)


def _package_stanzas(path: Path, package: str) -> bytes:
    """The stanzas of `package` in one apt list (plain, .gz or .xz): a plain one is tens of MB,
    searched in place."""
    needle = b"\nPackage: " + package.encode() + b"\n"
    if path.name.endswith(".gz"):
        return _stanzas(gzip.decompress(path.read_bytes()), needle)
    if path.name.endswith(".xz"):
        import lzma  # an optional module of Python's: ImportError when this one was built without it

        try:
            return _stanzas(lzma.decompress(path.read_bytes()), needle)
        except lzma.LZMAError as err:
            raise ValueError(f"{path}: {err}") from err
    with open(path, "rb") as file:
        if os.fstat(file.fileno()).st_size == 0:  # fstat: qemu-user's stat of a path misses its root's files
            return b""
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _stanzas(data, needle)


def apt_versions(package: str, machine: str, lists: Path = APT_LISTS) -> Optional[list]:
    """The versions of a Debian package that this system's apt lists offer for the userland's
    architecture ([] when none do); None when there are no lists for it to read."""
    arch = DPKG_ARCHITECTURES.get(machine)
    try:
        files = sorted(p for p in lists.glob(f"*_binary-{arch}_Packages*") if p.name.endswith(LIST_ENDINGS)) if arch else []
    except OSError:
        files = []
    versions = []
    for path in files:
        try:
            stanzas = _package_stanzas(path, package)
        except (OSError, ValueError, EOFError, ImportError):  # unreadable or damaged: as if it were not there
            continue
        versions += [line[len(b"Version: "):].decode(errors="replace") for line in stanzas.splitlines()
                     if line.startswith(b"Version: ")]
    return sorted(set(versions)) if files else None


def installed(name: str) -> Optional[str]:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def inspect_device(lists: Path = APT_LISTS) -> Device:
    libc, version = platform.libc_ver()
    fields = os_release()
    device = Device(
        machine=userland_machine(), os_name=os_name(fields), python=platform.python_version(),
        python_bits=struct.calcsize("P") * 8, glibc=version if libc == "glibc" else None,
        packages={name: installed(name) for name in ("numpy", "Pillow", *(w.package for w in WHEELS))},
        os_id=fields.get("ID", ""), codename=fields.get("VERSION_CODENAME", ""), c_compiler=c_compiler())
    # apt's lists are read only for a package pip has no wheel of here.
    offered = {a.package: apt_versions(a.package, device.machine, lists) for a in APT if why_not(WHEEL_OF[a.wheel], device)}
    device.apt = offered if offered and None not in offered.values() else None
    return device


def c_compiler() -> Optional[str]:
    """What runtime/backends/c_compiler.py would find: $CC when set, else cc, gcc or clang."""
    import shutil

    names = [os.environ["CC"]] if os.environ.get("CC") else ["cc", "gcc", "clang"]
    return next((shutil.which(name) for name in names if shutil.which(name)), None)


def c_engine_line(device: Device) -> str:
    """Whether `python -m convert micro`'s C engine runs here (it needs numpy and a C compiler)."""
    what = "C engine (micro/NAME.c of `python -m convert micro`, --backend c):"
    if device.c_compiler:
        numpy = "" if device.packages.get("numpy") else "; it needs numpy too (sudo apt install python3-numpy)"
        return f"{what} runs here, built by {device.c_compiler}{numpy}"
    return f"{what} runs on any device with a C compiler and numpy: sudo apt install gcc python3-numpy"


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


def from_apt(apt: AptPackage, device: Device) -> tuple:
    """(True, what the line rests on) when apt installs `apt` here; (False, why not, or what
    doctor could not know; None when this is no Debian system) otherwise."""
    arch = DPKG_ARCHITECTURES.get(device.machine, device.machine)
    offered = (device.apt or {}).get(apt.package)
    armv6 = ("; it is Raspbian's ARMv6 build, which this toolkit has not run: `python -m runtime parity` here is the check"
             if device.machine == "armv6l" or device.os_id == "raspbian" else "")
    if offered:
        return True, f"{apt.package} {', '.join(offered)} is in this system's apt lists ({arch}){armv6}"
    if device.apt is not None:
        return False, f"{apt.package} is not in this system's apt lists ({arch})"
    if device.os_id == "debian" and device.machine in apt.releases.get(device.codename, ()):
        return True, (f"this system has no apt lists to read (`sudo apt update`); Debian {device.codename}'s archive has "
                      f"{apt.package} {apt.version} for {arch}")
    if device.os_id == "raspbian" or device.machine == "armv6l":
        known = "; ".join(f"Debian {release} builds it for "
                          + ", ".join("armhf (ARMv7)" if m == "armv7l" else DPKG_ARCHITECTURES[m] for m in machines)
                          for release, machines in apt.releases.items())
        return False, (f"whether the 32-bit Raspberry Pi OS's archive (rebuilt for ARMv6) has {apt.package} could not be "
                       f"checked: this system has no apt lists to read (`sudo apt update`, then doctor again); {known}")
    return False, None  # not a Debian system, or lists doctor cannot read: nothing to say


def advise(device: Device) -> Advice:
    reasons = {w.package: why_not(w, device) for w in WHEELS}
    usable = [w for w in WHEELS if reasons[w.package] is None]
    tflite = [w for w in usable if w.runs == ".tflite"]
    chosen = tflite[:1] + [w for w in usable if w.runs == ".onnx"]  # LiteRT first: the maintained one
    skipped = [r for r in reasons.values() if r]
    if tflite[1:]:
        skipped.append(f"{tflite[1].package} also has a wheel here; {tflite[0].package} is the maintained one")
    debs, notes = [], []
    for apt in APT:
        if reasons[apt.wheel] is not None:
            ok, text = from_apt(apt, device)
            if text:
                (notes if ok else skipped).append(text)
            if ok:
                debs.append(apt.package)
                chosen.append(WHEEL_OF[apt.wheel])
    if not chosen:
        return Advice([], None, skipped, notes)
    pip = f'pip install "./{wheel_name()}[{",".join([w.extra for w in chosen] + ["images"])}]"'
    if debs or device.machine in NO_NUMPY_WHEELS:
        debs += ["python3-numpy", "python3-pil", "python3-venv"]
        pip = f"sudo apt install {' '.join(debs)} && python3 -m venv --system-site-packages venv && venv/bin/{pip}"
    if not any(w.runs == ".tflite" for w in chosen):
        notes.append("no .tflite interpreter installs here: run the .onnx files (parity skips the others)")
    return Advice([w.package for w in chosen], pip, skipped, notes)


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
        lines.append(f"Interpreters that install here: {', '.join(advice.installable)}")
        lines.append(f"Install: {advice.command}")
        lines += [f"  + {note}" for note in advice.notes]
    else:
        lines.append("No interpreter package installs on this device, so no .tflite or .onnx file can run here:")
    lines += [f"  - {reason}" for reason in advice.reasons]
    if not advice.ok and device.machine in NO_NUMPY_WHEELS:
        lines.append("  A 32-bit Pi runs tflite-runtime with Python 3.11 (Raspberry Pi OS 12, bookworm); "
                     "on a Pi 3, 4 or 5 the 64-bit OS runs every interpreter.")
    lines.append(c_engine_line(device))
    return "\n".join(lines)


def recommendation(advice: Advice) -> str:
    """The advice in one line, as `runtime bench` prints it beside its numbers: the interpreter
    for each format and the install line, or why nothing installs."""
    if not advice.ok:
        return "no interpreter package installs on this device" + (f": {advice.reasons[0]}" if advice.reasons else "")
    runs = ", ".join(f"{name} for {WHEEL_OF[name].runs}" for name in advice.installable)
    return f"{runs}; install: {advice.command}"


def report_json(device: Device, advice: Advice) -> dict:
    return {"machine": device.machine, "os": device.os_name, "python": device.python, "python_bits": device.python_bits,
            "glibc": device.glibc, "packages": device.packages, "installable": advice.installable,
            "install": advice.command, "reasons": advice.reasons, "notes": advice.notes, "apt": device.apt,
            "c_compiler": device.c_compiler, "c_engine": c_engine_line(device)}


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
