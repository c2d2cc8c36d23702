"""Where a check or a benchmark ran: machine, Python, numpy and interpreter versions, so a
log proves it (the `Platform:` line of parity, the `CPU:` line of bench)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np


def platform_record(backends=()) -> dict:
    """The machine and package versions; `backends` are opened backends (name, version)."""
    record = {
        "machine": platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    for backend in backends:
        record[backend.name] = backend.version
    return record


def describe_platform(record: dict) -> str:
    """'Linux x86_64, Python 3.11.7, numpy 2.4.6, litert 2.3.0' from a platform record."""
    rest = [f"{k} {v}" for k, v in record.items() if k not in ("system", "machine", "python", "numpy")]
    return ", ".join([f"{record['system']} {record['machine']}", f"Python {record['python']}", f"numpy {record['numpy']}"] + rest)


def cpu_name() -> str:
    """The CPU model as /proc/cpuinfo names it (falls back to the machine type)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_record(backend_names=()) -> dict:
    """CPU model, cores, Python, numpy and the versions of the named (default: every
    installed) interpreter packages: what benchmark numbers were measured on."""
    from ..backends import BACKENDS
    from ..backends.interpreters import package_version

    record = {"cpu": cpu_name(), "cores": os.cpu_count(), **platform_record()}
    for name in backend_names or BACKENDS:
        version = package_version(name)
        if version != "unknown":
            record[name] = version
    return record
