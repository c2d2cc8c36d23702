"""The device runtime on the Raspberry Pi's own architecture: a Raspberry Pi OS userland (Debian
bookworm arm64, Python 3.11) under qemu user-mode emulation of a Pi 4's Cortex-A72, built and
cached by scripts/pi_emulation.sh, in both device flavours:

- tflite: numpy<2 + tflite-runtime 2.14 + Pillow
- litert: numpy 2 + ai-edge-litert + onnxruntime + Pillow

`python -m runtime parity` and `predict` run on emulated aarch64 on the artifacts the training
environment built, and the int8 model's answers are compared with those of the same package
versions on x86_64 (the script's `run-host` twin). Speed is not checked: emulation is 30-200x
slower than a Pi. If the emulated environment cannot be built, these tests fail."""

import json
import platform
import shutil
import subprocess
import time

import numpy as np
import pytest

from conftest import ROOT
from photos import write_clear_photos

SCRIPT = ROOT / "scripts" / "pi_emulation.sh"
FLAVOURS = {
    "tflite": {"numpy_major": "1", "tflite_backend": "tflite-runtime"},
    "litert": {"numpy_major": "2", "tflite_backend": "litert"},
}

# Run in each architecture: the int8 (and float32) TFLite model's probabilities on the reference
# images through runtime.load(...).predict, as a program on the device would get them.
DUMP = """
import platform, sys
import numpy as np
import runtime
from runtime.parity import load_reference

models, backend, out = sys.argv[1:]
reference = load_reference(models)
int8 = runtime.load(f"{models}/mnist_mlp_int8.tflite", backend=backend)
float32 = runtime.load(f"{models}/mnist_mlp_float32.tflite", backend=backend)
np.savez(out, machine=platform.machine(), backend=f"{int8.backend.name} {int8.backend.version}",
         int8=int8.predict(reference.images), step=int8.output.scale,
         float32=float32.predict(reference.images))
"""


def pi(command, flavour, *args, cwd, timeout=600) -> subprocess.CompletedProcess:
    """scripts/pi_emulation.sh COMMAND FLAVOUR ARGS: `run` on emulated aarch64, `run-host` on x86_64."""
    return subprocess.run(["bash", SCRIPT, command, flavour, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def emulation():
    """Builds (or finds in its cache) the emulated Pi; a failure fails every test here."""
    start = time.monotonic()
    setup = subprocess.run(["bash", SCRIPT, "setup"], capture_output=True, text=True, timeout=900)
    assert setup.returncode == 0, "scripts/pi_emulation.sh setup failed:\n" + setup.stdout[-3000:] + setup.stderr[-5000:]
    ready = setup.stderr.strip().splitlines()[-1].removeprefix("pi-emulation: ")
    return {"summary": f"{ready} (setup {time.monotonic() - start:.0f} s)", "printed": False}


@pytest.fixture(params=sorted(FLAVOURS))
def flavour(request, emulation):
    return request.param


def test_parity_passes_on_emulated_aarch64(flavour, emulation, pipeline, tmp_path, capsys):
    from runtime.platform_info import describe_platform

    result = pi("run", flavour, "-m", "runtime", "parity", "--models", pipeline.models, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    where = report["platform"]
    assert where["machine"] == "aarch64" and where["system"] == "Linux"
    assert where["python"].startswith("3.11.")
    assert where["numpy"].split(".")[0] == FLAVOURS[flavour]["numpy_major"]
    rows = {a["artifact"]: a for a in report["artifacts"]}
    backend = FLAVOURS[flavour]["tflite_backend"]
    assert backend in where
    for name in ("mnist_mlp_float32.tflite", "mnist_mlp_int8.tflite"):
        assert rows[name]["passed"] and rows[name]["backend"].startswith(backend + " ")
    if flavour == "litert":
        assert rows["mnist_mlp_float32.onnx"]["passed"] and rows["mnist_mlp_int8.onnx"]["passed"]
        assert "onnxruntime" in where
        assert report["skipped"] == []
    else:
        assert [s["artifact"] for s in report["skipped"]] == ["mnist_mlp_float32.onnx", "mnist_mlp_int8.onnx"]
    with capsys.disabled():
        if not emulation["printed"]:
            print(f"\n[pi emulation] {emulation['summary']}", end="")
            emulation["printed"] = True
        print(f"\n[pi emulation] {flavour}: ran on {describe_platform(where)}: parity PASS, "
              + ", ".join(f"{name} agreement {row['agreement']:.2%}" for name, row in rows.items()))


def test_predict_photos_on_emulated_aarch64(flavour, pipeline, reference, tmp_path):
    expected = write_clear_photos(reference, tmp_path)
    result = pi("run", flavour, "-m", "runtime", "predict", *expected, "--model",
                pipeline.models / "mnist_mlp_int8.tflite", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(result.stdout)
    assert data["backend"] == FLAVOURS[flavour]["tflite_backend"]
    assert {r["file"]: r["label"] for r in data["results"]} == expected


def test_int8_answers_match_x86_64(flavour, pipeline, tmp_path, capsys):
    """The same package versions on both architectures (x86_64 is the script's run-host twin).
    Not always bit-identical: int8 kernels may round differently on ARM and x86 (measured: up to 6 of 10,000
    probabilities, each by one quantisation step). So: the same predicted digit for every
    reference image, and probabilities at most one step apart, rarely."""
    script = tmp_path / "dump.py"
    script.write_text(DUMP)
    backend = FLAVOURS[flavour]["tflite_backend"]
    runs = {}
    for command, where in (("run", "aarch64"), ("run-host", platform.machine())):
        out = tmp_path / f"{where}.npz"
        result = pi(command, flavour, script, pipeline.models, backend, out, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        runs[where] = dict(np.load(out))
        assert str(runs[where]["machine"]) == where
    arm, x86 = runs["aarch64"], runs[platform.machine()]
    assert str(arm["backend"]) == str(x86["backend"]), "the two architectures ran different package versions"

    step = float(x86["step"])
    assert arm["int8"].shape == x86["int8"].shape == (len(x86["int8"]), 10)
    differ = arm["int8"] != x86["int8"]
    assert np.abs(arm["int8"] - x86["int8"]).max() <= step
    assert differ.mean() <= 0.001, f"{differ.sum()} of {differ.size} int8 probabilities differ"
    assert np.array_equal(arm["int8"].argmax(1), x86["int8"].argmax(1)), "a predicted digit differs"
    same_digit = int(np.sum(arm["int8"].argmax(1) == x86["int8"].argmax(1)))
    float_dp = float(np.abs(arm["float32"] - x86["float32"]).max())
    summary = (f"{differ.sum()} of {differ.size} probabilities differ by one step (1/{1 / step:.0f})"
               if differ.any() else "bit-identical")
    with capsys.disabled():
        print(f"\n[pi emulation] {flavour}: {arm['backend']} int8 on aarch64 vs {platform.machine()}: {summary}, "
              f"same digit for {same_digit} of {len(differ)} images; float32 max |Δp| {float_dp:.1e}")


def test_unlisted_file_is_probed_in_an_emulated_child(flavour, pipeline, tmp_path):
    """A file no manifest vouches for is first loaded in a child process (runtime.probe); under
    emulation that child must be emulated too (the script's launcher is sys.executable)."""
    model = shutil.copy(pipeline.models / "mnist_mlp_int8.tflite", tmp_path / "unlisted.tflite")
    result = pi("run", flavour, "-m", "runtime", "info", model, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    info = json.loads(result.stdout)
    assert info["manifest"] is None and info["backend"].startswith(FLAVOURS[flavour]["tflite_backend"] + " ")
