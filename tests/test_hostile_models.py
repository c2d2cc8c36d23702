"""Hostile model files: every damaged or malformed file gives a one-line error naming it,
and none takes the process down or hangs it. Each mutant runs in its own subprocess."""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import runtime
from runtime import ModelFileError

from conftest import ROOT
from mutants import byte_mutants, onnx_structural_mutants, tflite_structural_mutants

MUTANT_TIMEOUT_S = 120
LOAD_AND_PREDICT = """
import json, sys, numpy as np, runtime
images = np.load(sys.argv[2])
try:
    probs = runtime.load(sys.argv[1]).predict(images)
    print(json.dumps({"outcome": "loaded", "shape": list(probs.shape)}))
except runtime.ModelFileError as err:
    print(json.dumps({"outcome": "error", "message": str(err)}))
"""


def _try_mutant(path: Path, images: Path) -> dict:
    try:
        child = subprocess.run([sys.executable, "-c", LOAD_AND_PREDICT, str(path), str(images)], cwd=ROOT,
                               capture_output=True, text=True, timeout=MUTANT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"outcome": "hang"}
    if child.returncode != 0:
        return {"outcome": "crash", "returncode": child.returncode, "stderr": child.stderr[-500:]}
    return json.loads(child.stdout.strip().splitlines()[-1])


def _run_mutation_test(mutants, suffix, tmp_path, reference):
    images = tmp_path / "images.npy"
    np.save(images, reference.images[:5])
    paths = []
    for k, (name, data) in enumerate(mutants):
        path = tmp_path / f"mutant{k:03d}{suffix}"
        path.write_bytes(data)
        paths.append((name, path))
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda item: _try_mutant(item[1], images), paths))
    counts = {kind: sum(o["outcome"] == kind for o in outcomes) for kind in ("loaded", "error", "crash", "hang")}
    bad = [(name, o) for (name, _), o in zip(paths, outcomes) if o["outcome"] in ("crash", "hang")]
    unclear = [(name, o["message"]) for (name, path), o in zip(paths, outcomes)
               if o["outcome"] == "error" and (str(path) not in o["message"] or "\n" in o["message"])]
    return counts, bad, unclear


@pytest.mark.slow
@pytest.mark.parametrize("name, suffix", [("mnist_mlp_int8.tflite", ".tflite"), ("mnist_mlp_float32.onnx", ".onnx")])
def test_mutants_never_crash_or_hang(pipeline, reference, tmp_path, capsys, name, suffix):
    data = (pipeline.models / name).read_bytes()
    rng = np.random.default_rng(0)
    structural = tflite_structural_mutants(data) if suffix == ".tflite" else onnx_structural_mutants(data)
    mutants = byte_mutants(data, rng) + structural
    counts, bad, unclear = _run_mutation_test(mutants, suffix, tmp_path, reference)
    with capsys.disabled():
        print(f"\nmutation test {name}: {len(mutants)} mutants ({len(structural)} structural), "
              f"{counts['error']} clean errors, {counts['loaded']} loaded, "
              f"crashes = {counts['crash']}, hangs = {counts['hang']}")
    assert bad == []
    assert unclear == []
    assert counts["error"] >= len(mutants) // 2


BARE_LITERT = ("import sys, numpy as np\nfrom ai_edge_litert.interpreter import Interpreter\n"
               "it = Interpreter(sys.argv[1]); it.allocate_tensors()\n"
               "d = it.get_input_details()[0]; it.set_tensor(d['index'], np.zeros(d['shape'], d['dtype'])); it.invoke()\n")


@pytest.mark.slow
def test_structural_mutant_would_crash_an_unisolated_load(pipeline, tmp_path):
    """The reason for isolation: LiteRT in-process dies by a signal on some valid flatbuffers
    whose activation tensor points at a weights buffer. The first such mutant that kills a
    bare LiteRT process is, through runtime.load, a clean error."""
    data = (pipeline.models / "mnist_mlp_int8.tflite").read_bytes()
    aliased = [m for m in tflite_structural_mutants(data) if m[0].endswith("buffer -> weights")]
    path = tmp_path / "aliased_buffer.tflite"
    for name, mutant in aliased:
        path.write_bytes(mutant)
        direct = subprocess.run([sys.executable, "-c", BARE_LITERT, str(path)], capture_output=True, text=True, timeout=60)
        if direct.returncode < 0:  # killed by a signal
            break
    else:
        pytest.fail(f"none of the {len(aliased)} aliased-buffer mutants crashed a bare LiteRT: isolation is not needed?")
    with pytest.raises(ModelFileError, match=r"aliased_buffer\.tflite: the litert interpreter crashed \(SIG\w+\)"):
        runtime.load(path)


def _onnx_with_external(location: str) -> bytes:
    weights = numpy_helper.from_array(np.zeros(4, np.float32), "W")
    weights.ClearField("raw_data")
    weights.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = weights.external_data.add()
        entry.key, entry.value = key, value
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])
    graph = helper.make_graph([helper.make_node("Add", ["x", "W"], ["y"])], "g", [x], [y], [weights])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/hostname", "sub/../../secret.bin"])
def test_onnx_external_data_outside_the_folder_is_refused(tmp_path, location):
    (tmp_path / "secret.bin").write_bytes(b"S" * 64)
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(_onnx_with_external(location))
    with pytest.raises(ModelFileError, match=rf"model\.onnx: refused, its external data '{location}' lies outside the model's folder"):
        runtime.load(folder / "model.onnx", isolate=False)


def test_onnx_external_data_inside_the_folder_is_allowed(tmp_path):
    from runtime.store.onnx_external import external_locations

    data = _onnx_with_external("weights.bin")
    assert list(external_locations(data)) == ["weights.bin"]
    (tmp_path / "weights.bin").write_bytes(np.ones(4, np.float32).tobytes())
    (tmp_path / "model.onnx").write_bytes(data)
    from runtime.store.onnx_external import check_external_data

    check_external_data(tmp_path / "model.onnx")  # no error
