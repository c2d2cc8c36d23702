"""The device runtime on the Raspberry Pi's own architectures: a Raspberry Pi OS userland under
qemu user-mode emulation, built and cached by scripts/pi_emulation.sh:

- Raspberry Pi OS 12 (Debian bookworm, Python 3.11):
  - the 64-bit OS (arm64), on a Pi 4's Cortex-A72, in both device flavours:
    - tflite: numpy<2 + tflite-runtime 2.14 + Pillow
    - litert: numpy 2 + ai-edge-litert + onnxruntime + Pillow
  - the 32-bit OS (armhf), on a Pi 2's Cortex-A7, where only tflite-runtime has wheels: Debian's
    numpy and Pillow + tflite-runtime 2.14.
- Raspberry Pi OS 13 (Debian trixie, Python 3.13), today's:
  - arm64: the litert flavour (tflite-runtime has no cp313 wheels)
  - armhf: no interpreter has cp313 armv7l wheels, but Debian builds onnxruntime 1.21 for it: the
    apt flavour (python3-onnxruntime, python3-numpy, python3-pil, nothing from PyPI) runs the .onnx
    files, and its 1.21 is where the runtime must leave out a graph transformer (runtime/backends/onnx_runtime.py);
    with Debian's gcc and libc6-dev, the runtime's `c` backend builds and checks `convert micro`'s
    C engine with the device's own compiler.

`python -m runtime parity` and `predict` run there on the artifacts the training environment
built, and the int8 model's answers are compared with those of the same package versions on
x86_64 (the script's `run-host` twin; bookworm only: trixie's twin would need a host Python 3.13).
Speed is not checked: emulation is 30-200x slower than a
Pi. If an emulated environment cannot be built, these tests fail."""

import json
import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass

import numpy as np
import pytest

from conftest import ROOT
from photos import write_clear_photos
from runtime.evaluate.parity import compare
from runtime.verdict import DEFAULT_FLOAT_MAX_DP

pytestmark = pytest.mark.emulation

SCRIPT = ROOT / "scripts" / "pi_emulation.sh"


@dataclass(frozen=True)
class Target:
    """One emulated Pi: an OS architecture and a device flavour of scripts/pi_emulation.sh."""

    release: str
    """PI_EMULATION_RELEASE: bookworm (Raspberry Pi OS 12) or trixie (13)."""
    arch: str
    """PI_EMULATION_ARCH: arm64 (64-bit Raspberry Pi OS) or armhf (32-bit)."""
    flavour: str
    machine: str
    """platform.machine() there."""
    numpy_major: str
    tflite_backend: str
    """The backend that runs .tflite files there."""
    runs_onnx: bool
    pillow_from_debian: bool
    """Pillow is Debian's python3-pil (no wheels on PyPI for armv7), not a wheel."""

    python: str = "3.11"

    def __str__(self):
        return f"{self.release}-{self.arch}-{self.flavour}"


TARGETS = [
    Target("bookworm", "arm64", "litert", "aarch64", "2", "litert", runs_onnx=True, pillow_from_debian=False),
    Target("bookworm", "arm64", "tflite", "aarch64", "1", "tflite-runtime", runs_onnx=False, pillow_from_debian=False),
    Target("bookworm", "armhf", "tflite", "armv7l", "1", "tflite-runtime", runs_onnx=False, pillow_from_debian=True),
    Target("trixie", "arm64", "litert", "aarch64", "2", "litert", runs_onnx=True, pillow_from_debian=False, python="3.13"),
]
TRIXIE_ARMHF = Target("trixie", "armhf", "apt", "armv7l", "2", "", runs_onnx=True, pillow_from_debian=True, python="3.13")
"""No interpreter package has a cp313 armv7l wheel: Debian's python3-onnxruntime, numpy and Pillow."""

# Run in each architecture: the int8 (and float32) TFLite model's probabilities on the reference
# images through runtime.load(...).predict, as a program on the device would get them.
DUMP = """
import platform, sys
import numpy as np
import PIL
import runtime
from runtime.store.bundles import load_reference

models, backend, out = sys.argv[1:]
reference = load_reference(models)
int8 = runtime.load(f"{models}/mnist_mlp_int8.tflite", backend=backend)
float32 = runtime.load(f"{models}/mnist_mlp_float32.tflite", backend=backend)
np.savez(out, machine=platform.machine(), backend=f"{int8.backend.name} {int8.backend.version}",
         pillow=f"{PIL.__version__} {PIL.__file__}", numpy=np.__version__,
         int8=int8.predict(reference.images), step=int8.output.scale,
         float32=float32.predict(reference.images))
"""

# A device with numpy and Pillow but no TFLite interpreter package: `predict` must say what to
# install there.
WITHOUT_TFLITE = """
import sys
class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tflite_runtime", "ai_edge_litert"):
            raise ImportError(f"test: {name} is not installed here")
sys.meta_path.insert(0, NotInstalled())
from runtime.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def pi(command, target: Target, *args, cwd, timeout=600) -> subprocess.CompletedProcess:
    """scripts/pi_emulation.sh COMMAND FLAVOUR ARGS for the target's architecture: `run` emulated,
    `run-host` on this machine with the same package versions."""
    return subprocess.run(["bash", SCRIPT, command, target.flavour, *map(str, args)], cwd=cwd,
                          env=dict(os.environ, PI_EMULATION_ARCH=target.arch, PI_EMULATION_RELEASE=target.release),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def emulations():
    """Builds (or finds in its cache) each architecture's emulated Pi once, when a test first
    needs it; a failure fails that architecture's tests."""
    ready = {}

    def setup(target: Target) -> dict:
        arch = (target.release, target.arch)
        if arch not in ready:
            start = time.monotonic()
            result = subprocess.run(["bash", SCRIPT, "setup"], capture_output=True, text=True, timeout=900,
                                    env=dict(os.environ, PI_EMULATION_ARCH=target.arch, PI_EMULATION_RELEASE=target.release))
            ready[arch] = {"returncode": result.returncode, "log": result.stdout[-3000:] + result.stderr[-5000:],
                           "summary": result.stderr.strip().splitlines()[-1].removeprefix("pi-emulation: ")
                           + f" (setup {time.monotonic() - start:.0f} s)", "printed": False}
        assert ready[arch]["returncode"] == 0, (f"PI_EMULATION_RELEASE={target.release} PI_EMULATION_ARCH={target.arch} "
                                                "scripts/pi_emulation.sh setup failed:\n" + ready[arch]["log"])
        return ready[arch]

    return setup


@pytest.fixture(params=TARGETS, ids=str)
def target(request, emulations) -> Target:
    emulations(request.param)
    return request.param


def test_parity_passes_on_the_emulated_pi(target, emulations, pipeline, tmp_path, capsys):
    from runtime.evaluate.platform_info import describe_platform

    result = pi("run", target, "-m", "runtime", "parity", "--models", pipeline.models, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    where = report["platform"]
    assert where["machine"] == target.machine and where["system"] == "Linux"
    assert where["python"].startswith(target.python + ".")
    assert where["numpy"].split(".")[0] == target.numpy_major
    rows = {a["artifact"]: a for a in report["artifacts"]}
    assert target.tflite_backend in where
    for name in ("mnist_mlp_float32.tflite", "mnist_mlp_int8.tflite"):
        assert rows[name]["passed"] and rows[name]["backend"].startswith(target.tflite_backend + " ")
    onnx = ["mnist_mlp_float32.onnx", "mnist_mlp_int8.onnx"]
    if target.runs_onnx:
        assert all(rows[name]["passed"] for name in onnx)
        assert "onnxruntime" in where
        assert report["skipped"] == []
    else:
        assert [s["artifact"] for s in report["skipped"]] == onnx
        # Where onnxruntime has no wheels, parity says so instead of suggesting to install it.
        expected = ("onnxruntime has no 32-bit ARM wheels" if target.arch == "armhf" else "pip install onnxruntime")
        assert all(expected in s["reason"] for s in report["skipped"]), report["skipped"]
    setup = emulations(target)
    with capsys.disabled():
        if not setup["printed"]:
            print(f"\n[pi emulation] {setup['summary']}", end="")
            setup["printed"] = True
        print(f"\n[pi emulation] {target}: ran on {describe_platform(where)}: parity PASS, "
              + ", ".join(f"{name} agreement {row['agreement']:.2%}" for name, row in rows.items())
              + "".join(f"; skipped {s['artifact']}: {s['reason'].split('; ')[-1]}" for s in report["skipped"][:1]))


def test_predict_photos_on_the_emulated_pi(target, pipeline, reference, tmp_path):
    expected = write_clear_photos(reference, tmp_path)
    result = pi("run", target, "-m", "runtime", "predict", *expected, "--model",
                pipeline.models / "mnist_mlp_int8.tflite", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(result.stdout)
    assert data["backend"] == target.tflite_backend
    assert {r["file"]: r["label"] for r in data["results"]} == expected


@pytest.mark.parametrize("target", [t for t in TARGETS if t.release == "bookworm"], ids=str, indirect=True)
def test_int8_answers_match_x86_64(target, pipeline, tmp_path, capsys):
    """The same package versions on both architectures (x86_64 is the script's run-host twin).
    Not always bit-identical: int8 kernels may round differently on ARM and x86 (measured: up to 6 of 10,000
    probabilities, each by one quantisation step). So: the same predicted digit for every
    reference image, and probabilities at most one step apart, rarely."""
    script = tmp_path / "dump.py"
    script.write_text(DUMP)
    runs = {}
    for command, where in (("run", target.machine), ("run-host", platform.machine())):
        out = tmp_path / f"{where}.npz"
        result = pi(command, target, script, pipeline.models, target.tflite_backend, out, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        runs[where] = dict(np.load(out))
        assert str(runs[where]["machine"]) == where
    arm, x86 = runs[target.machine], runs[platform.machine()]
    assert str(arm["backend"]) == str(x86["backend"]), "the two architectures ran different package versions"
    assert str(arm["numpy"]) == str(x86["numpy"])
    pillow_version, pillow_file = str(arm["pillow"]).split(" ", 1)
    assert ("/usr/lib/python3/dist-packages/PIL/" in pillow_file) == target.pillow_from_debian, pillow_file

    # The int8 artifact ends in DEQUANTIZE (float32 output); its int8 softmax has TFLite's fixed
    # output quantization (scale 1/256, zero point -128: the int8 quantization spec), the step here.
    step = float(x86["step"]) or 1 / 256
    assert arm["int8"].shape == x86["int8"].shape == (len(x86["int8"]), 10)
    differ = arm["int8"] != x86["int8"]
    assert np.abs(arm["int8"] - x86["int8"]).max() <= step
    assert differ.mean() <= 0.001, f"{differ.sum()} of {differ.size} int8 probabilities differ"
    assert np.array_equal(arm["int8"].argmax(1), x86["int8"].argmax(1)), "a predicted digit differs"
    same_digit = int(np.sum(arm["int8"].argmax(1) == x86["int8"].argmax(1)))
    float_dp = float(np.abs(arm["float32"] - x86["float32"]).max())
    summary = (f"{differ.sum()} of {differ.size} probabilities differ by one step (1/{1 / step:.0f})"
               if differ.any() else "bit-identical")
    pillow = f"Pillow {pillow_version} from {'Debian (python3-pil)' if target.pillow_from_debian else 'its wheel'}"
    with capsys.disabled():
        print(f"\n[pi emulation] {target}: {arm['backend']} int8 on {target.machine} vs {platform.machine()}: {summary}, "
              f"same digit for {same_digit} of {len(differ)} images; float32 max |Δp| {float_dp:.1e}; "
              f"numpy {arm['numpy']}, {pillow}")


def test_unlisted_file_is_probed_in_an_emulated_child(target, pipeline, tmp_path, monkeypatch):
    """A file no manifest vouches for is first loaded in a child process (runtime.backends.probe); under
    emulation that child must be emulated too (the script's launcher is sys.executable). An
    empty probe cache makes sure the child runs; the pass it records proves that it did."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("EDGE_MNIST_CACHE", str(cache))
    model = shutil.copy(pipeline.models / "mnist_mlp_int8.tflite", tmp_path / "unlisted.tflite")
    result = pi("run", target, "-m", "runtime", "info", model, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    info = json.loads(result.stdout)
    assert info["manifest"] is None and info["backend"].startswith(target.tflite_backend + " ")
    recorded = [p for p in (cache / "probed").iterdir() if not p.name.startswith(".")]  # not the cache's .secret
    assert len(recorded) == 1, "the emulated child's pass was not recorded"


@pytest.mark.parametrize("target", [t for t in TARGETS if t.flavour == "tflite"], ids=str, indirect=True)
def test_missing_interpreter_names_what_installs_there(target, pipeline, reference, tmp_path):
    """A Pi with numpy and Pillow but no TFLite interpreter: on the 32-bit OS the error names the
    tflite-runtime extra (ai-edge-litert has no armv7 wheels), on the 64-bit OS both packages."""
    script = tmp_path / "without_tflite.py"
    script.write_text(WITHOUT_TFLITE)
    photos = write_clear_photos(reference, tmp_path)
    result = pi("run", target, script, "predict", next(iter(photos)), "--model",
                pipeline.models / "mnist_mlp_int8.tflite", cwd=tmp_path)
    assert result.returncode != 0 and result.stdout == "", result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot run "), result.stderr
    if target.arch == "armhf":
        assert lines[0].endswith('no interpreter for .tflite files is installed; pip install "edge-mnist[tflite-runtime]" '
                                 "(ai-edge-litert has no 32-bit ARM wheels)"), lines[0]
    else:
        assert lines[0].endswith("no interpreter for .tflite files is installed; pip install ai-edge-litert or tflite-runtime"), lines[0]


# Run on trixie armhf: the float32 ONNX file's probabilities from onnxruntime's own defaults and from
# the runtime's session, and where onnxruntime came from.
ONNX_DEFAULTS = """
import sys
import numpy as np
import onnxruntime
import runtime
from runtime.store.bundles import load_reference

models, out = sys.argv[1:]
images = load_reference(models).images
path = f"{models}/mnist_mlp_float32.onnx"
session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
np.savez(out, version=onnxruntime.__version__, where=onnxruntime.__file__,
         defaults=session.run(None, {session.get_inputs()[0].name: images})[0],
         runtime=runtime.load(path).predict(images))
"""


def test_trixie_armhf_runs_the_onnx_files_with_apt_onnxruntime(emulations, pipeline, tmp_path, capsys):
    """32-bit Raspberry Pi OS 13 with only Debian's packages: parity passes both ONNX files, the
    float32 one within the float limit, and skips the .tflite files naming what runs instead."""
    setup = emulations(TRIXIE_ARMHF)
    result = pi("run", TRIXIE_ARMHF, "-m", "runtime", "parity", "--models", pipeline.models, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Schema error" not in result.stderr  # Debian's build says 567 of them; the runtime drops them
    report = json.loads(result.stdout)
    where = report["platform"]
    assert where["machine"] == "armv7l" and where["python"].startswith("3.13.") and where["onnxruntime"].startswith("1.21")
    rows = {a["artifact"]: a for a in report["artifacts"]}
    assert sorted(rows) == ["mnist_mlp_float32.onnx", "mnist_mlp_int8.onnx"] and all(r["passed"] for r in rows.values())
    assert rows["mnist_mlp_float32.onnx"]["max_abs_dp"] <= DEFAULT_FLOAT_MAX_DP
    assert [s["artifact"] for s in report["skipped"]] == ["mnist_mlp_float32.tflite", "mnist_mlp_int8.tflite"]
    assert all(s["reason"].endswith("no TFLite interpreter has 32-bit ARM wheels for Python 3.13 (tflite-runtime's last "
                                    "are for 3.11, ai-edge-litert has none): run the .onnx artifacts with Debian's "
                                    "python3-onnxruntime (`python -m runtime doctor` says how)") for s in report["skipped"])
    with capsys.disabled():
        print(f"\n[pi emulation] {setup['summary']}\n[pi emulation] {TRIXIE_ARMHF}: onnxruntime {where['onnxruntime']} "
              "(Debian's): parity PASS, " + ", ".join(f"{name} max |Δp| {row['max_abs_dp']:.1e}" for name, row in rows.items()))


def test_trixie_armhf_onnxruntime_defaults_would_fail_the_check(emulations, pipeline, reference, tmp_path, capsys):
    """onnxruntime 1.21's own defaults round the float32 file's first weights to int8 (its
    WeightBiasQuantization): parity's unchanged float32 judgement refuses those outputs, and the
    runtime's session, without that transformer, gives what the file means."""
    emulations(TRIXIE_ARMHF)
    script, out = tmp_path / "onnx_defaults.py", tmp_path / "armv7l.npz"
    script.write_text(ONNX_DEFAULTS)
    result = pi("run", TRIXIE_ARMHF, script, pipeline.models, out, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = dict(np.load(out))
    assert str(run["version"]).startswith("1.21") and "/usr/lib/python3/dist-packages/onnxruntime/" in str(run["where"]), run["where"]
    size = (pipeline.models / "mnist_mlp_float32.onnx").stat().st_size
    defaults = compare("mnist_mlp_float32.onnx", "float32", size, run["defaults"], reference)
    ours = compare("mnist_mlp_float32.onnx", "float32", size, run["runtime"], reference)
    assert not defaults.passed and any("max |Δp|" in f for f in defaults.failures), defaults.failures
    assert ours.passed, ours.failures
    with capsys.disabled():
        print(f"\n[pi emulation] {TRIXIE_ARMHF}: float32 ONNX, onnxruntime {run['version']}'s defaults max |Δp| "
              f"{defaults.max_abs_dp:.1e} (refused), the runtime's session {ours.max_abs_dp:.1e}")


def test_trixie_armhf_doctor_gives_the_apt_line(emulations, tmp_path):
    """doctor reads the root's apt lists (debootstrap's, Debian 13 armhf) and names apt's package."""
    emulations(TRIXIE_ARMHF)
    doctor = pi("run", TRIXIE_ARMHF, "-m", "runtime", "doctor", "--json", cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    report = json.loads(doctor.stdout)
    assert report["machine"] == "armv7l" and report["python"].startswith("3.13.") and report["installable"] == ["onnxruntime"]
    assert report["install"].startswith("sudo apt install python3-onnxruntime python3-numpy python3-pil python3-venv && "
                                        "python3 -m venv --system-site-packages venv && venv/bin/pip install ")
    assert report["apt"] == {"python3-onnxruntime": ["1.21.0+dfsg-1"]}
    assert "python3-onnxruntime 1.21.0+dfsg-1 is in this system's apt lists (armhf)" in report["notes"]


def test_trixie_armhf_predicts_photos_with_debian_pillow(emulations, pipeline, reference, tmp_path):
    emulations(TRIXIE_ARMHF)
    expected = write_clear_photos(reference, tmp_path)
    result = pi("run", TRIXIE_ARMHF, "-m", "runtime", "predict", *expected, "--model",
                pipeline.models / "mnist_mlp_int8.onnx", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(result.stdout)
    assert data["backend"] == "onnxruntime"
    assert {r["file"]: r["label"] for r in data["results"]} == expected


def _alone_and_altered(pipeline, name: str, folder) -> tuple:
    """`name` copied alone into an empty folder, and beside it a copy whose golden set's outputs
    were altered after conversion (the sha256 recorded beside the set left as it was)."""
    from dataclasses import replace

    from golden_files import KEEP, golden_of, rewrite_golden

    folder.mkdir()
    path = shutil.copy(pipeline.models / name, folder / name)
    altered = shutil.copy(path, folder / f"altered_{name}")
    golden = golden_of(altered)
    outputs = np.array(golden.outputs)
    outputs[0] = outputs[0][::-1]
    rewrite_golden(altered, replace(golden, outputs=outputs).to_bytes(), sha256=KEEP)
    return path, altered


@pytest.mark.parametrize("target", [t for t in TARGETS if t.arch == "arm64"], ids=str, indirect=True)
def test_a_file_alone_is_checked_with_its_golden_set(target, pipeline, tmp_path, capsys):
    """Issue 29's acceptance: mnist_mlp_int8.tflite, copied alone into an empty folder on the
    emulated 64-bit Pi, passes `runtime parity FILE`; the same file with its golden set altered
    is refused in one line."""
    path, altered = _alone_and_altered(pipeline, "mnist_mlp_int8.tflite", tmp_path / "device")
    result = pi("run", target, "-m", "runtime", "parity", path.name, cwd=path.parent)
    lines = result.stdout.splitlines()
    verdict = next((line for line in lines if line.startswith("verdict mnist_mlp_int8.tflite: ")), "")
    assert verdict.startswith(("verdict mnist_mlp_int8.tflite: verified: this device gives the workstation's outputs",
                               "verdict mnist_mlp_int8.tflite: unproven: outputs differ on ")), result.stdout + result.stderr
    verified = verdict.startswith("verdict mnist_mlp_int8.tflite: verified")  # else unproven: exit 3, as parity --models
    assert (result.returncode, lines[-1]) == ((0, "PASS") if verified else (3, "UNPROVEN")), result.stderr[-3000:]
    assert lines[0].startswith("Platform: Linux aarch64, ")
    refused = pi("run", target, "-m", "runtime", "parity", altered.name, cwd=path.parent)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stdout + refused.stderr
    assert refused.stdout.strip().endswith("recorded beside it: it was altered or damaged after conversion")
    assert len(refused.stdout.strip().splitlines()) == 1
    against = next(line for line in lines if line.startswith("  against the workstation"))
    with capsys.disabled():
        print(f"\n[pi emulation] {target}: parity mnist_mlp_int8.tflite alone:{against.split(':', 1)[1]}; "
              f"{verdict.split(': ', 2)[1]}; altered: refused")


def test_trixie_armhf_checks_the_onnx_files_alone(emulations, pipeline, tmp_path, capsys):
    """The .onnx files alone on 32-bit Raspberry Pi OS 13 with Debian's onnxruntime 1.21: each
    passes with its golden set, against the workstation's onnxruntime 1.32 outputs."""
    emulations(TRIXIE_ARMHF)
    for name in ("mnist_mlp_float32.onnx", "mnist_mlp_int8.onnx"):
        path, altered = _alone_and_altered(pipeline, name, tmp_path / name)
        result = pi("run", TRIXIE_ARMHF, "-m", "runtime", "parity", path.name, "--json", cwd=path.parent)
        assert result.returncode in (0, 3), result.stdout[-3000:] + result.stderr[-3000:]  # verified, or unproven
        check = json.loads(result.stdout)
        assert check["passed"] and check["backend"].startswith("onnxruntime 1.21"), check
        assert result.returncode == {"verified": 0, "unproven": 3}[check["status"]], check
        refused = pi("run", TRIXIE_ARMHF, "-m", "runtime", "parity", altered.name, "--json", cwd=path.parent)
        assert refused.returncode == 1 and json.loads(refused.stdout)["status"] == "refused"
        with capsys.disabled():
            print(f"\n[pi emulation] {TRIXIE_ARMHF}: parity {name} alone: {check['summary'][:160]}")

# Run on trixie armhf: the C engine through the runtime's `c` backend, built by the root's gcc.
C_ENGINE = """
import platform, sys
import numpy as np
import runtime
from runtime.store.bundles import load_reference

models, out = sys.argv[1:]
model = runtime.load(f"{models}/micro/mnist_mlp_int8.c")
np.savez(out, machine=platform.machine(), compiler=model.backend.version, target=model.backend.library.compiler.target,
         origin=model.backend.library.origin, probs=model.predict(load_reference(models).images))
"""


def test_trixie_armhf_checks_the_c_engine_built_by_its_own_gcc(emulations, micro_models, reference, tmp_path, monkeypatch,
                                                               capsys):
    """32-bit Raspberry Pi OS 13 with Debian's gcc and libc6-dev: `parity --backend c` builds the
    C engine with the device's own gcc, caches the armhf library, and passes; a second process
    loads it from the cache, and its outputs on every reference image are TFLite Micro's on x86_64."""
    import runtime

    setup = emulations(TRIXIE_ARMHF)
    cache = tmp_path / "cache"
    monkeypatch.setenv("EDGE_MNIST_CACHE", str(cache))
    models, _ = micro_models
    start = time.monotonic()
    result = pi("run", TRIXIE_ARMHF, "-m", "runtime", "parity", "--models", models, "--backend", "c", "--json", cwd=tmp_path)
    parity_s = time.monotonic() - start
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    rows = {a["artifact"]: a for a in report["artifacts"]}
    assert list(rows) == ["micro/mnist_mlp_int8.c"] and rows["micro/mnist_mlp_int8.c"]["passed"]
    assert report["platform"]["machine"] == "armv7l" and report["platform"]["c"].startswith("gcc 14.")
    libraries = list((cache / "c-engines").glob("*.so"))
    assert len(libraries) == 1 and libraries[0].read_bytes()[18] == 40  # ELF e_machine 40: ARM

    script, out = tmp_path / "c_engine.py", tmp_path / "armv7l.npz"
    script.write_text(C_ENGINE)
    dumped = pi("run", TRIXIE_ARMHF, script, models, out, cwd=tmp_path)
    assert dumped.returncode == 0, dumped.stdout[-3000:] + dumped.stderr[-3000:]
    arm = dict(np.load(out))
    assert str(arm["machine"]) == "armv7l" and str(arm["target"]) == "arm-linux-gnueabihf" and str(arm["origin"]) == "cache"
    tflm = runtime.load(models / "mnist_mlp_int8_micro.tflite", backend="tflite-micro").predict(reference.images)
    assert np.array_equal(arm["probs"], tflm)
    with capsys.disabled():
        print(f"\n[pi emulation] {setup['summary']}\n[pi emulation] {TRIXIE_ARMHF}: parity --backend c PASS in "
              f"{parity_s:.0f} s (built by {arm['compiler']}, {arm['target']}); outputs equal to TFLite Micro's on x86_64 "
              f"on {len(tflm)} of {len(tflm)} images")
