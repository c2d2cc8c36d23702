"""`python -m runtime doctor`: the install line for each Raspberry Pi OS this toolkit knows, from
the wheels each interpreter package publishes, and the report of this machine."""

import json
import platform
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli
from runtime.doctor import Device, advise, format_report


def pi(machine: str, python: str, glibc: str, bits: int = 64) -> Device:
    return Device(machine=machine, os_name="Debian GNU/Linux", python=python, python_bits=bits, glibc=glibc)


@pytest.mark.parametrize("device, extras, apt", [
    (pi("aarch64", "3.13.5", "2.41"), "litert,onnxruntime,images", False),  # Raspberry Pi OS 13 (trixie), 64-bit
    (pi("aarch64", "3.11.2", "2.36"), "litert,onnxruntime,images", False),  # Raspberry Pi OS 12 (bookworm), 64-bit
    (pi("armv7l", "3.11.2", "2.36", bits=32), "tflite-runtime,images", True),  # bookworm, 32-bit
], ids=["trixie-arm64", "bookworm-arm64", "bookworm-armhf"])
def test_install_line_for_each_pi_os(device, extras, apt):
    advice = advise(device)
    assert advice.ok
    assert advice.command.endswith(f'-py3-none-any.whl[{extras}]"') and 'pip install "./edge_mnist-' in advice.command
    assert ("apt install python3-numpy python3-pil" in advice.command) == apt
    assert ("--system-site-packages" in advice.command) == apt


def test_trixie_armhf_says_why_nothing_runs():
    advice = advise(pi("armv7l", "3.13.5", "2.41", bits=32))
    assert not advice.ok and advice.installable == []
    assert advice.reasons == ["ai-edge-litert has no armv7l wheels",
                              "tflite-runtime 2.14.0 has armv7l wheels for Python 3.8 to 3.11, not 3.13.5",
                              "onnxruntime has no armv7l wheels"]
    assert "No interpreter package has a wheel for this device" in format_report(pi("armv7l", "3.13.5", "2.41", 32), advice)


def test_old_glibc_is_named():
    advice = advise(pi("aarch64", "3.11.2", "2.24"))  # older than every wheel's manylinux tag
    assert not advice.ok
    assert advice.reasons == ["ai-edge-litert's aarch64 wheels need glibc 2.27+, this system has 2.24",
                              "tflite-runtime's aarch64 wheels need glibc 2.34+, this system has 2.24",
                              "onnxruntime's aarch64 wheels need glibc 2.28+, this system has 2.24"]


def test_doctor_reports_this_machine():
    result = run_cli("runtime", "doctor", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["machine"] == platform.machine() and report["python"] == platform.python_version()
    assert report["glibc"] == platform.libc_ver()[1]
    assert report["packages"]["numpy"] is not None and "install" in report


def test_doctor_runs_before_anything_is_installed():
    """Standard library only: run from its source, without site-packages (no numpy)."""
    source = (ROOT / "runtime" / "doctor.py").read_text()
    result = subprocess.run([sys.executable, "-S", "-", "--json"], input=source, capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["packages"]["numpy"] is None and report["machine"] == platform.machine()
