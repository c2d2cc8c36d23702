"""`python -m runtime doctor`: the install line for each Raspberry Pi OS this toolkit knows, from
the wheels each interpreter package publishes, and the report of this machine."""

import json
import platform
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli
from runtime.doctor import Device, advise, apt_versions, format_report, recommendation


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


STANZA = """Package: {name}
Source: onnxruntime
Version: {version}
Architecture: armhf
Description: runtime for ONNX models
 A continuation line. Version: 9.9 is not a field

"""


def write_list(folder, name, *packages, arch="armhf", compress=None):
    """An apt list as `apt update` writes it, holding `packages` ((name, version) pairs)."""
    text = "".join(STANZA.format(name=n, version=v) for n, v in packages).encode()
    path = folder / f"deb.debian.org_debian_dists_{name}_main_binary-{arch}_Packages"
    if compress == "gz":
        import gzip

        path, text = path.with_name(path.name + ".gz"), gzip.compress(text)
    path.write_bytes(text)
    return path


def trixie_armhf(apt, os_id="debian", machine="armv7l"):
    return Device(machine=machine, os_name="Debian GNU/Linux 13 (trixie)", python="3.13.5", python_bits=32, glibc="2.41",
                  os_id=os_id, codename="trixie", apt=apt)


NO_WHEELS = ["ai-edge-litert has no armv7l wheels", "tflite-runtime 2.14.0 has armv7l wheels for Python 3.8 to 3.11, not 3.13.5",
             "onnxruntime has no armv7l wheels"]


def test_trixie_armhf_installs_onnxruntime_from_apt():
    """32-bit Debian 13 / Raspberry Pi OS 13: no wheel, but apt's python3-onnxruntime runs the .onnx files."""
    advice = advise(trixie_armhf({"python3-onnxruntime": ["1.21.0+dfsg-1"]}))
    assert advice.ok and advice.installable == ["onnxruntime"]
    assert advice.command == ("sudo apt install python3-onnxruntime python3-numpy python3-pil python3-venv && "
                              "python3 -m venv --system-site-packages venv && "
                              'venv/bin/pip install "./edge_mnist-0.1.0-py3-none-any.whl[onnxruntime,images]"')
    assert advice.reasons == NO_WHEELS
    assert advice.notes == ["python3-onnxruntime 1.21.0+dfsg-1 is in this system's apt lists (armhf)",
                            "no .tflite interpreter installs here: run the .onnx files (parity skips the others)"]
    report = format_report(trixie_armhf({"python3-onnxruntime": ["1.21.0+dfsg-1"]}), advice)
    assert "Interpreters that install here: onnxruntime\nInstall: sudo apt install python3-onnxruntime" in report


def test_trixie_armhf_without_the_package_or_the_lists():
    """What doctor can know: the device's own lists, else Debian 13's archive (for Debian itself only)."""
    missing = advise(trixie_armhf({"python3-onnxruntime": []}))
    assert not missing.ok and missing.reasons == NO_WHEELS + ["python3-onnxruntime is not in this system's apt lists (armhf)"]
    assert "No interpreter package installs on this device" in format_report(trixie_armhf({"python3-onnxruntime": []}), missing)
    unread = advise(trixie_armhf(None))
    assert unread.ok and unread.notes[0] == ("this system has no apt lists to read (`sudo apt update`); Debian trixie's "
                                             "archive has python3-onnxruntime 1.21.0 for armhf")


@pytest.mark.parametrize("machine", ["armv6l", "armv7l"])
def test_raspberry_pi_os_32_bit_says_what_could_not_be_checked(machine):
    """The 32-bit Raspberry Pi OS (Raspbian, rebuilt for ARMv6; a Pi Zero or 1 is armv6l): whether its
    archive has python3-onnxruntime was not checkable here, so only its own lists can say."""
    unread = advise(trixie_armhf(None, os_id="raspbian", machine=machine))
    assert not unread.ok and unread.reasons[-1] == (
        "whether the 32-bit Raspberry Pi OS's archive (rebuilt for ARMv6) has python3-onnxruntime could not be checked: "
        "this system has no apt lists to read (`sudo apt update`, then doctor again); Debian trixie builds it for "
        "armhf (ARMv7), arm64, amd64, riscv64")
    offered = advise(trixie_armhf({"python3-onnxruntime": ["1.21.0+dfsg-1+rpi1"]}, os_id="raspbian", machine=machine))
    assert offered.ok and offered.command.startswith("sudo apt install python3-onnxruntime ")
    assert offered.notes[0] == ("python3-onnxruntime 1.21.0+dfsg-1+rpi1 is in this system's apt lists (armhf); it is "
                                "Raspbian's ARMv6 build, which this toolkit has not run: `python -m runtime parity` here is the check")


def test_bookworm_armhf_keeps_tflite_runtime_and_says_apt_has_no_onnxruntime():
    device = Device(machine="armv7l", os_name="Debian GNU/Linux 12 (bookworm)", python="3.11.2", python_bits=32,
                    glibc="2.36", os_id="debian", codename="bookworm", apt={"python3-onnxruntime": []})
    advice = advise(device)
    assert advice.installable == ["tflite-runtime"] and advice.command.endswith('.whl[tflite-runtime,images]"')
    assert advice.reasons[-1] == "python3-onnxruntime is not in this system's apt lists (armhf)"


def test_apt_lists_are_read_for_this_architecture(tmp_path):
    """Plain and gzip lists, the package's first stanza at the start of a file, several versions;
    another architecture's list and an empty folder give nothing; no folder at all: None."""
    write_list(tmp_path, "trixie", ("python3-onnxruntime", "1.21.0+dfsg-1"), ("python3-onnxruntime-doc", "0"))
    write_list(tmp_path, "trixie-updates", ("libfoo", "1"), ("python3-onnxruntime", "1.21.0+dfsg-2"), compress="gz")
    write_list(tmp_path, "sid", ("python3-onnxruntime", "1.23.2"), arch="arm64")
    (tmp_path / "deb.debian.org_debian_dists_trixie_contrib_binary-armhf_Packages").write_bytes(b"")
    assert apt_versions("python3-onnxruntime", "armv7l", tmp_path) == ["1.21.0+dfsg-1", "1.21.0+dfsg-2"]
    assert apt_versions("python3-onnxruntime", "armv6l", tmp_path) == ["1.21.0+dfsg-1", "1.21.0+dfsg-2"]
    assert apt_versions("python3-onnxruntime", "aarch64", tmp_path) == ["1.23.2"]
    assert apt_versions("python3-onnx", "armv7l", tmp_path) == []
    assert apt_versions("python3-onnxruntime", "x86_64", tmp_path) is None
    assert apt_versions("python3-onnxruntime", "armv7l", tmp_path / "missing") is None


def test_damaged_apt_list_is_passed_over(tmp_path):
    write_list(tmp_path, "trixie", ("python3-onnxruntime", "1.21.0+dfsg-1"))
    (tmp_path / "x_dists_trixie-updates_main_binary-armhf_Packages.gz").write_bytes(b"not gzip")
    (tmp_path / "x_dists_trixie-backports_main_binary-armhf_Packages.xz").write_bytes(b"not xz")
    assert apt_versions("python3-onnxruntime", "armv7l", tmp_path) == ["1.21.0+dfsg-1"]


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


def test_the_recommendation_in_one_line_as_bench_prints_it():
    """`runtime bench` prints this beside its numbers: the interpreter for each format and the install line."""
    arm64 = recommendation(advise(pi("aarch64", "3.13.5", "2.41")))
    assert arm64.startswith('ai-edge-litert for .tflite, onnxruntime for .onnx; install: pip install "./edge_mnist-')
    apt = recommendation(advise(trixie_armhf({"python3-onnxruntime": ["1.21.0+dfsg-1"]})))
    assert apt.startswith("onnxruntime for .onnx; install: sudo apt install python3-onnxruntime python3-numpy python3-pil")
    nothing = recommendation(advise(trixie_armhf({"python3-onnxruntime": []})))
    assert nothing.startswith("no interpreter package installs on this device: ") and "\n" not in nothing

def test_the_c_engine_line_says_what_it_needs():
    """A Pi Zero (armv6l) where no interpreter installs still runs `convert micro`'s C engine
    with a C compiler and numpy: doctor says so, or what installs them."""
    zero = trixie_armhf(None, os_id="raspbian", machine="armv6l")
    report = format_report(zero, advise(zero))
    assert "no .tflite or .onnx file can run here" in report
    assert report.splitlines()[-1] == ("C engine (micro/NAME.c of `python -m convert micro`, --backend c): runs on any "
                                       "device with a C compiler and numpy: sudo apt install gcc python3-numpy")
    zero.c_compiler = "/usr/bin/cc"
    assert format_report(zero, advise(zero)).endswith("runs here, built by /usr/bin/cc; it needs numpy too (sudo apt "
                                                      "install python3-numpy)")
    zero.packages["numpy"] = "1.24.2"
    assert format_report(zero, advise(zero)).endswith("runs here, built by /usr/bin/cc")
