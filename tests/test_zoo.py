"""Real architectures end to end: the zoo of tests/zoo.py (MobileNetV2 nested as a layer,
a ResNet with BatchNorm, Add and augmentation layers, EfficientNetB0 with its adapted
Normalization, a greyscale separable/depthwise net with hard-swish), each trained inside the
test, through `convert onnx --keras` and `convert web`.

The int8 ONNX artifacts may be rejected by the int8 limits; what is checked of them is that
quantization ran and was judged, not that it passed."""

import json
import re

import numpy as np
import pytest

import runtime
from runtime.store.bundles import load_reference

from conftest import run_cli
from zoo import CHANNELS, INPUT_SCALE, ZOO, train_zoo_model, write_npz

pytestmark = pytest.mark.slow

DATA_PER_CLASS = 100
"""Pictures per class for `--data` (never trained on), 300 in all: 30 calibrate int8 (one in ten), 270 are held out."""
MIN_ACCURACY = 0.6
"""Keras on the held-out pictures; chance is 1/3 and the zoo measures 0.7-0.85."""
FLOAT_TOLERANCE = 1e-4
"""Largest |Δp| between the float ONNX file (through the runtime) and Keras, per class."""
TRAINING_ONLY_OPS = re.compile(r"Random|Dropout|ImageProjectiveTransform|StatelessRandom|Multinomial")


@pytest.fixture(scope="session")
def zoo_models(tmp_path_factory):
    """name -> (ZooModel, its data .npz), built and trained once per session."""
    folder = tmp_path_factory.mktemp("zoo")
    built = {}
    for name in ZOO:
        model = train_zoo_model(name, folder)
        built[name] = (model, write_npz(folder / f"{name}_data.npz", CHANNELS[name], DATA_PER_CLASS, seed=7))
    return built


@pytest.fixture(scope="session")
def converted(zoo_models, tmp_path_factory):
    """name -> (models folder, `convert onnx --keras` result)."""
    done = {}
    for name, (model, data) in zoo_models.items():
        models = tmp_path_factory.mktemp(f"zoo_{name}")
        result = run_cli("convert", "onnx", "--keras", model.path, "--data", data, "--models", models,
                         "--input-scale", f"{INPUT_SCALE[name]:g}", timeout=1200)
        done[name] = (models, result)
    return done


@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_learned_the_shapes(name, converted):
    _, result = converted[name]
    match = re.search(r"Keras accuracy on the (\d+) held-out images: ([0-9.]+)", result.stdout)
    assert match, result.stdout[-2000:] + result.stderr[-2000:]
    assert float(match[2]) >= MIN_ACCURACY, result.stdout


@pytest.mark.parametrize("name", ZOO)
def test_float_onnx_is_the_inference_graph(name, converted):
    import onnx

    models, result = converted[name]
    out = result.stdout + result.stderr
    assert "ERROR:tf2onnx" not in out and "WARNING:tensorflow" not in out and "Traceback" not in out, out[-3000:]
    assert "/tmp" not in result.stderr, result.stderr  # no message names a temporary file
    path = models / f"{name}_float32.onnx"
    assert path.is_file(), out[-3000:]
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["image"] and len(graph.output) == 1
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8  # pixels in, contract inside
    ops = {node.op_type for node in graph.node}
    assert not {op for op in ops if TRAINING_ONLY_OPS.search(op)}, ops


@pytest.mark.parametrize("name", ZOO)
def test_float_onnx_matches_keras(name, converted):
    models, result = converted[name]
    assert re.search(rf"^{name}_float32\.onnx .* verified$", result.stdout, re.M), result.stdout[-3000:]
    reference = load_reference(models)
    probs = runtime.load(models / f"{name}_float32.onnx").predict(reference.images)
    assert np.abs(probs - reference.probs).max() <= FLOAT_TOLERANCE
    assert (probs.argmax(1) == reference.probs.argmax(1)).all()


@pytest.mark.parametrize("name", ZOO)
def test_int8_onnx_is_quantized_and_judged(name, converted):
    """onnxruntime's quantize_static ran on the graph (no converter failure) and the file was
    judged by parity: written and listed, or rejected with its measured agreement."""
    models, result = converted[name]
    out = result.stdout + result.stderr
    assert "converter failed" not in out and "missing from input feed" not in out, out[-3000:]
    row = re.search(rf"^{name}_int8\.onnx .*$", result.stdout, re.M)
    assert row, result.stdout[-3000:]
    written = (models / f"{name}_int8.onnx").is_file()
    assert written == (row[0].split()[-1] in ("verified", "unproven")), row[0]
    assert result.returncode == (0 if written else 1), out[-3000:]


@pytest.mark.parametrize("name", ZOO)
def test_web_page_builds(name, converted):
    models, _ = converted[name]
    result = run_cli("convert", "web", "--models", models)
    assert result.returncode == 0, result.stderr
    config = json.loads((models / "web" / "model.json").read_text())
    assert config["artifact"]["file"] in {f"{name}_int8.onnx", f"{name}_float32.onnx"}
    assert (models / "web" / config["artifact"]["file"]).is_file()
