"""The check travels with the file: every converted file carries a golden set (a few reference
images, Keras's probabilities and the file's own outputs on the workstation), and
`python -m runtime parity FILE`, with the file alone in a folder, checks it with nothing else.
A set that is missing, damaged, altered, hostile or not the file's own gets one line, no
traceback, in little memory. On the session's real files, float32 and int8, TFLite and ONNX."""

import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace

import numpy as np
import pytest

from convert.golden import GOLDEN_IMAGES, GOLDEN_SHARE, choose_images
from runtime.store.embedded import read_golden
from runtime.store.golden import GoldenSet, GoldenSetError

from conftest import ROOT, listed_statuses, parity_exit, run_cli
from golden_files import KEEP, golden_of, ordinary_pair, rewrite_golden, swapped_rows

FILES = ["mnist_mlp_float32.tflite", "mnist_mlp_int8.tflite", "mnist_mlp_float32.onnx", "mnist_mlp_int8.onnx"]
MAX_RSS_MB = 200
"""A child reading a hostile set stays under this (python, numpy and an interpreter take ~100 MB)."""


def alone(pipeline, name, tmp_path):
    """The file copied alone into an empty folder: no manifest, no reference bundle."""
    folder = tmp_path / "device"
    folder.mkdir(exist_ok=True)
    return shutil.copy(pipeline.models / name, folder / name)


def parity_file(path, *args):
    return run_cli("runtime", "parity", path.name, *args, cwd=path.parent)


@pytest.mark.parametrize("name", FILES)
def test_each_file_carries_a_small_golden_set(pipeline, reference, name):
    entry = pipeline.artifact(name)
    carried = read_golden(pipeline.models / name)
    assert carried is not None and carried.intact
    golden = GoldenSet.from_bytes(carried.data)
    assert golden.images == GOLDEN_IMAGES and len(set(golden.reference_index)) == golden.images
    assert np.array_equal(golden.inputs, reference.images[list(golden.reference_index)])
    assert np.array_equal(golden.keras, reference.probs[list(golden.reference_index)])
    assert golden.verdict["status"] == entry["metrics"]["verdict"]["status"] == "verified"
    record = entry["golden_set"]
    size = entry["bytes"]
    assert record["images"] == golden.images and record["bytes"] >= len(carried.data)
    assert record["bytes"] <= GOLDEN_SHARE * (size - record["bytes"])  # at most a quarter of the file without it
    assert {"near-tie", "ordinary", "largest-dp"} <= set(golden.reasons)
    assert golden.reasons.count("ordinary") == 10  # one per digit
    if "int8" in name:
        # TFLite's int8 softmax has the fixed scale 1/256; onnxruntime's quantizer calibrates 0..1: 1/255
        assert golden.output_step == pytest.approx(1 / 256 if name.endswith(".tflite") else 1 / 255)
        disagree = reference.probs.argmax(1) != golden_probs(pipeline, name, reference).argmax(1)
        assert golden.reasons.count("disagrees") == min(disagree.sum(), GOLDEN_IMAGES // 4)


def golden_probs(pipeline, name, reference):
    import runtime

    return runtime.load(pipeline.models / name).predict(reference.images)


@pytest.mark.parametrize("name", FILES)
def test_parity_file_alone_passes_and_says_what_it_rests_on(pipeline, name, tmp_path):
    status = listed_statuses(pipeline.models)[name]  # the conversion's outcome, which identical outputs carry over
    path = alone(pipeline, name, tmp_path)
    result = parity_file(path)
    assert result.returncode == parity_exit([status]), result.stdout + result.stderr
    assert result.stderr == "" and "Traceback" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[-1] == {"verified": "PASS", "unproven": "UNPROVEN"}[status]
    verdict = next(line for line in lines if line.startswith(f"verdict {name}: "))
    assert verdict.startswith(f"verdict {name}: {status}: this device gives the workstation's outputs on all 32 images, "
                              "bit for bit, so the conversion's verdict on 1,000 images holds here as far as these can show")
    assert "  against the workstation (" in result.stdout and "identical outputs on all 32 images" in result.stdout
    what = next(line for line in lines if line.startswith("  what 32 images can show: "))
    if "int8" in name:
        assert "not the 1 pp accuracy budget, which rests on the conversion's 1,000 reference images" in what
    else:
        assert "within 0.0001; not that every other image stays within it" in what
    data = json.loads(parity_file(path, "--json").stdout)
    assert data["status"] == status and data["passed"] and data["numbers"]["identical"]
    assert data["numbers"]["top1_as_keras"] == data["numbers"]["workstation_top1_as_keras"]
    assert not (path.parent / "manifest.json").exists()


def test_info_shows_the_golden_set(pipeline, tmp_path):
    path = alone(pipeline, "mnist_mlp_int8.tflite", tmp_path)
    result = run_cli("runtime", "info", path.name, cwd=path.parent)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("  golden set: "))
    assert line.startswith("  golden set: 32 images (TFLite metadata, ") and "10 ordinary" in line
    assert line.endswith("recorded with litert 2.3.0 on x86_64; sha256 as recorded beside it") or "recorded with" in line
    data = json.loads(run_cli("runtime", "info", path.name, "--json", cwd=path.parent).stdout)
    assert data["golden_set"]["images"] == 32 and data["golden_set"]["reasons"]["ordinary"] == 10


def refusal(path, *args) -> str:
    """The one line `parity FILE` refuses a file with (exit status 1)."""
    result = parity_file(path, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("name", ["mnist_mlp_int8.tflite", "mnist_mlp_float32.onnx"])
def test_a_set_altered_without_its_sha256_is_refused(pipeline, name, tmp_path):
    path = alone(pipeline, name, tmp_path)
    golden = golden_of(path)
    outputs = np.array(golden.outputs)
    outputs[0] = outputs[0][::-1]
    rewrite_golden(path, replace(golden, outputs=outputs).to_bytes(), sha256=KEEP)
    line = refusal(path)
    assert len(line.splitlines()) == 1
    assert line.startswith(f"verdict {name}: refused: its golden set has sha256 ") and line.endswith(
        "recorded beside it: it was altered or damaged after conversion"), line


@pytest.mark.parametrize("name", FILES)
def test_altered_outputs_with_a_new_sha256_are_refused(pipeline, name, tmp_path):
    """The recorded outputs of two images swapped, their sha256 recomputed: they no longer agree
    with the recorded Keras probabilities within the file's own largest |Δp|."""
    path = alone(pipeline, name, tmp_path)
    golden = golden_of(path)
    rewrite_golden(path, swapped_rows(golden, ordinary_pair(golden), "outputs").to_bytes())
    assert refusal(path).endswith("its outputs or its Keras probabilities were altered")


@pytest.mark.parametrize("name", FILES)
def test_a_consistent_forgery_is_refused_by_what_the_file_computes(pipeline, name, tmp_path):
    """Both recorded outputs of two images swapped, with a new sha256: the set agrees with
    itself, not with what the file computes on its images."""
    path = alone(pipeline, name, tmp_path)
    golden = golden_of(path)
    rewrite_golden(path, swapped_rows(golden, ordinary_pair(golden), "outputs", "keras").to_bytes())
    result = parity_file(path)
    assert result.returncode == 1 and result.stdout.splitlines()[-1] == "FAIL", result.stdout + result.stderr
    verdict = next(line for line in result.stdout.splitlines() if line.startswith("verdict "))
    if "int8" in name:
        assert "top-1 differs from the workstation's recorded outputs on 2 of 32 images whose two best classes" in verdict
        assert "times the file's largest |Δp| against Keras at conversion" in verdict
        assert verdict.endswith("more than kernel libraries' rounding explains")
    else:
        assert "refused: against Keras on these 32 images: max |Δp|" in verdict


def test_a_set_from_another_file_is_refused(pipeline, tmp_path):
    path = alone(pipeline, "mnist_mlp_int8.tflite", tmp_path)
    rewrite_golden(path, read_golden(pipeline.models / "mnist_mlp_float32.tflite").data)
    line = refusal(path)
    assert "its golden set was recorded for model bytes with sha256 " in line
    assert line.endswith("the model changed after conversion, or the set came from another file")


@pytest.mark.parametrize("name", ["mnist_mlp_int8.tflite", "mnist_mlp_int8.onnx"])
def test_a_file_without_a_set_says_what_to_do_instead(pipeline, name, tmp_path):
    path = alone(pipeline, name, tmp_path)
    rewrite_golden(path, None)
    result = parity_file(path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == (f"error: {path.name}: carries no golden set, so nothing here can check it: convert "
                                     "it again with this version of the toolkit, or copy its models folder and run "
                                     "`python -m runtime parity --models DIR`")


def test_what_is_not_a_model_file_gets_one_line(pipeline, tmp_path):
    for given, expected in ((tmp_path / "gone.tflite", "no such file; the golden set travels in the .tflite and .onnx files"),
                            (pipeline.models / "mnist_mlp.keras", "not a .tflite or .onnx file"),
                            (pipeline.models, "is a folder; give one .tflite or .onnx file, or check a models folder with")):
        result = run_cli("runtime", "parity", given)
        assert result.returncode == 2 and result.stdout == "", result.stdout + result.stderr
        assert result.stderr.startswith(f"error: {given}: {expected}") and len(result.stderr.splitlines()) == 1


def test_a_set_that_does_not_fit_the_files_tensors_is_refused(pipeline, tmp_path):
    path = alone(pipeline, "mnist_mlp_float32.tflite", tmp_path)
    golden = golden_of(path)
    bigger = np.zeros((golden.images, 32, 32), np.uint8)
    rewrite_golden(path, replace(golden, inputs=bigger).to_bytes())
    assert refusal(path).endswith("its golden set holds images of shape (32, 32), and the file takes (28, 28)")


def test_nan_outputs_are_refused(pipeline, tmp_path):
    path = alone(pipeline, "mnist_mlp_int8.onnx", tmp_path)
    golden = golden_of(path)
    outputs = np.array(golden.outputs)
    outputs[3, 2] = np.nan
    rewrite_golden(path, replace(golden, outputs=outputs).to_bytes())
    assert refusal(path).endswith("its golden set holds NaN or infinite values in its workstation outputs")


def test_a_set_not_in_base64_is_refused(pipeline, tmp_path):
    import onnx

    path = alone(pipeline, "mnist_mlp_int8.onnx", tmp_path)
    model = onnx.load(str(path))
    next(p for p in model.metadata_props if p.key == "golden_set").value = "not base64!"
    onnx.save(model, str(path))
    assert refusal(path) == ("verdict mnist_mlp_int8.onnx: refused: its metadata_props 'golden_set' is not base64 "
                             "(Only base64 data is allowed)")


def test_a_set_too_large_to_read_is_refused_unread(pipeline, tmp_path):
    path = alone(pipeline, "mnist_mlp_int8.tflite", tmp_path)
    rewrite_golden(path, np.random.default_rng(0).bytes(5 << 20))  # incompressible: 5 MiB in the file
    assert refusal(path) == ("verdict mnist_mlp_int8.tflite: refused: its embedded golden_set.npz is 5,242,880 bytes, "
                             "more than the 4,194,304 allowed; refusing to read it")
    info = run_cli("runtime", "info", path.name, cwd=path.parent)
    assert info.returncode == 0 and "  golden set: unusable: it is unreadable: its embedded golden_set.npz is 5,242,880" in info.stdout


CHILD = """
import sys
from runtime.evaluate.golden import check_file
print(check_file(sys.argv[1]).summary)
peak = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(int(peak[0]) // 1024)
"""


def _checked_in_child(path) -> tuple:
    child = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0 and "Traceback" not in child.stderr, child.stderr
    summary, rss = child.stdout.strip().splitlines()
    return summary, int(rss)


def _zip_of(members: dict, declared=None) -> bytes:
    """An archive of `members` (name -> bytes), deflated; `declared` overwrites every member's size."""
    import io
    import struct

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    data = bytearray(out.getvalue())
    if declared is not None:
        at = data.find(b"PK\x01\x02")
        while at != -1:
            data[at + 24 : at + 28] = struct.pack("<I", declared)
            at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)


def _members(golden: GoldenSet) -> dict:
    with zipfile.ZipFile(__import__("io").BytesIO(golden.to_bytes())) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


HOSTILE = {
    "a member declared 4 GiB long": (lambda m: _zip_of(m, declared=0xFFFFFFFF),
                                      "declares its about.json 4,294,967,295 bytes long, more than the 262,144 allowed"),
    "an array of 80 MiB of zeros": (lambda m: _zip_of(dict(m, **{"inputs.npy": _npy_header((80 << 10, 32, 32), "|u1")
                                                                  + bytes(80 << 20)})),
                                     "declares its inputs.npy 83,886,208 bytes long, more than the 67,108,864 allowed"),
    "an array header larger than its bytes": (lambda m: _zip_of(dict(m, **{"keras.npy": _npy_header((10**9, 10), "<f4")})),
                                               "declares keras of shape (1000000000, 10) (40,000,000,000 bytes) but holds 0"),
    "an array of the wrong dtype": (lambda m: _zip_of(dict(m, **{"outputs.npy": _npy_header((32, 10), "<f8") + bytes(2560)})),
                                     "holds outputs as float64; expected float32"),
    "a count that is not a number": (lambda m: _zip_of(dict(m, **{"about.json": m["about.json"].replace(b'"images": 32', b'"images": "32"')})),
                                      "has a missing or malformed images in its about.json"),
    "more images declared than allowed": (lambda m: _zip_of(dict(m, **{"about.json": m["about.json"].replace(b'"images": 32', b'"images": 99999')})),
                                           "declares 99,999 images; expected 1 to 1,024"),
    "a pickle": (lambda m: _zip_of(dict(m, **{"keras.npy": _npy_header((32,), "|O") + b"\x80\x04N."})),
                 "holds keras as object; expected float32"),
    "not a zip at all": (lambda m: b"\x00" * 1000, "is not a readable archive"),
}


def _npy_header(shape, descr) -> bytes:
    import numpy.lib.format as fmt

    header = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return fmt.MAGIC_PREFIX + bytes([1, 0]) + len(header).to_bytes(2, "little") + header


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_set_is_refused_in_one_line_and_little_memory(pipeline, case, tmp_path):
    make, expected = HOSTILE[case]
    path = alone(pipeline, "mnist_mlp_int8.tflite", tmp_path)
    rewrite_golden(path, make(_members(golden_of(path))))
    summary, rss = _checked_in_child(path)
    assert summary.startswith("refused: its golden set ") and expected in summary, summary
    assert rss < MAX_RSS_MB, f"{rss} MB"


def test_choose_images_takes_each_reason_in_its_share():
    rng = np.random.default_rng(0)
    keras = rng.dirichlet(np.ones(10) * 0.3, size=500).astype(np.float32)
    probs = keras.copy()
    probs[:7] = probs[:7, ::-1]  # seven disagreements
    chosen = choose_images(probs, keras, 32)
    reasons = [reason for _, reason in chosen]
    assert len({i for i, _ in chosen}) == 32
    assert reasons.count("disagrees") == 7 and reasons.count("near-tie") == 8 and reasons.count("largest-dp") == 4
    assert reasons.count("ordinary") == 10 and reasons.count("spread") == 3
    assert choose_images(probs[:3], keras[:3], 32) and len(choose_images(probs[:3], keras[:3], 32)) == 3


def test_from_bytes_reads_what_to_bytes_wrote_and_refuses_what_it_did_not():
    rng = np.random.default_rng(1)
    keras = rng.dirichlet(np.ones(10), size=8).astype(np.float32)
    golden = GoldenSet(inputs=rng.integers(0, 256, (8, 28, 28), dtype=np.uint8), keras=keras, outputs=keras,
                       reasons=("spread",) * 8, precision="float32", graph_sha256="0" * 64, max_abs_dp=0.0)
    data = golden.to_bytes()
    assert data == golden.to_bytes()  # the same set, the same bytes
    again = GoldenSet.from_bytes(data)
    assert np.array_equal(again.inputs, golden.inputs) and again.reasons == golden.reasons
    with pytest.raises(GoldenSetError, match="does not hold the same 8 images throughout"):
        GoldenSet.from_bytes(replace(golden, outputs=keras[:7]).to_bytes())
    with pytest.raises(GoldenSetError, match="gives no known reason"):
        GoldenSet.from_bytes(replace(golden, reasons=("because",) * 8).to_bytes())
    extra = _zip_of(dict(_members(golden), **{"run.py": b"print('hi')"}))
    with pytest.raises(GoldenSetError, match="holds files this format does not write: run.py"):
        GoldenSet.from_bytes(extra)


def _synthetic(precision="int8", max_abs_dp=0.05, n=32) -> GoldenSet:
    """A set whose workstation outputs are Keras's rounded to TFLite's int8 softmax grid (1/256)."""
    rng = np.random.default_rng(2)
    keras = rng.dirichlet(np.ones(10) * 0.2, size=n).astype(np.float32)
    outputs = (np.round(keras * 256) / 256).astype(np.float32) if precision == "int8" else keras.copy()
    verdict = ({"status": "verified", "rule": "accuracy", "images": 1000, "keras_right": 900, "artifact_right": 901,
                "lost": 1, "gained": 2} if precision == "int8" else
               {"status": "verified", "rule": "float", "images": 1000, "max_abs_dp": max_abs_dp, "top1_differ": 0, "near_ties": 0})
    return GoldenSet(inputs=np.zeros((n, 28, 28), np.uint8), keras=keras, outputs=outputs, reasons=("spread",) * n,
                     precision=precision, graph_sha256="0" * 64, max_abs_dp=max_abs_dp, output_step=1 / 256,
                     verdict=verdict, limits={"max_drop": 0.01, "float_max_dp": 1e-4})


def test_the_device_verdict_on_identical_outputs_is_the_conversions():
    from runtime.evaluate.golden import judge_golden
    from runtime.verdict import Limits

    golden = _synthetic()
    check = judge_golden(golden, golden.outputs.copy(), 1 / 256, Limits())
    assert check.status == "verified" and check.numbers["identical"]
    assert check.summary.startswith("verified: this device gives the workstation's outputs on all 32 images, bit for bit, "
                                    "so the conversion's verdict on 1,000 images holds here as far as these can show (verified: ")
    unproven = replace(golden, verdict=dict(golden.verdict, lost=30, gained=25))  # the conversion could not settle the budget
    assert judge_golden(unproven, golden.outputs.copy(), 1 / 256, Limits()).status == "unproven"


def test_a_kernel_difference_of_a_step_is_unproven_not_refused():
    from runtime.evaluate.golden import judge_golden
    from runtime.verdict import Limits

    golden = _synthetic()
    device = golden.outputs.copy()
    row = int(np.argmin(np.sort(golden.outputs, 1)[:, -1]))  # its least sure image
    device[row, device[row].argmax()] -= 1 / 256
    device[3, 0] += 1 / 256
    check = judge_golden(golden, device, 1 / 256, Limits())
    assert check.status == "unproven" and check.passed
    assert check.summary == ("unproven: outputs differ on 2 of 32 images, by at most 1 quantization step (max |Δp| "
                             "3.91e-03); top-1 as the workstation's on every image; top-1 as Keras on 32 (the "
                             "workstation: 32); 32 images cannot show whether that costs accuracy against the 1 pp budget: "
                             "`python -m runtime parity --models DIR` with the models folder measures it")


def test_a_top1_change_at_a_near_tie_is_unproven_and_at_a_clear_margin_refused():
    from runtime.evaluate.golden import judge_golden
    from runtime.verdict import Limits

    golden = _synthetic()
    margins = np.sort(golden.outputs, 1)
    margins = margins[:, -1] - margins[:, -2]
    device = golden.outputs.copy()
    tie, clear = int(np.argmin(margins)), int(np.argmax(margins))
    assert margins[tie] <= 4 * golden.max_abs_dp < margins[clear]
    first, second = np.argsort(device[tie])[-2:][::-1]
    device[tie, [first, second]] = device[tie, [second, first]]
    assert judge_golden(golden, device, 1 / 256, Limits()).status == "unproven"
    first, second = np.argsort(device[clear])[-2:][::-1]
    device[clear, [first, second]] = device[clear, [second, first]]
    check = judge_golden(golden, device, 1 / 256, Limits())
    assert check.status == "refused"
    assert check.failures[0].startswith("top-1 differs from the workstation's recorded outputs on 1 of 32 images whose two "
                                        "best classes there are more than 0.2 apart: a difference of more than 2 times")


def test_a_float_file_is_held_to_its_tolerance():
    from runtime.evaluate.golden import judge_golden
    from runtime.verdict import Limits

    golden = _synthetic("float32", max_abs_dp=1e-6)
    device = golden.outputs + np.float32(3e-7)
    check = judge_golden(golden, device, None, Limits())
    assert check.status == "verified" and check.summary.startswith(
        "verified: this device's outputs are within 0.0001 of the workstation's (max |Δp| 3.0")
    assert "and of Keras's on 32 images, so the conversion's verdict on 1,000 images holds here" in check.summary
    check = judge_golden(golden, golden.outputs + np.float32(2e-4), None, Limits())
    assert check.status == "refused" and len(check.failures) == 2
    assert check.failures[0].startswith("against Keras on these 32 images: max |Δp| 2.0") and check.failures[0].endswith("> 0.0001")
    assert check.failures[1].endswith("more than the 0.0001 a float32 file allows (--float-max-dp)")
    nan = golden.outputs.copy()
    nan[5] = np.nan
    assert judge_golden(golden, nan, None, Limits()).summary == "refused: its outputs here are NaN or infinite on 1 of 32 images"
