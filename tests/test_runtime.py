"""The runtime core: TF-free import, the input contract's checks, batches, load errors."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import runtime
from runtime import ModelFileError
from runtime.model import MAX_BATCH

from conftest import ROOT

FORMATS = ["mnist_mlp_float32.tflite", "mnist_mlp_int8.tflite", "mnist_mlp_float32.onnx", "mnist_mlp_int8.onnx"]

BLOCK_TENSORFLOW = textwrap.dedent(
    """
    import sys
    class BlockTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "tf2onnx"):
                raise ImportError(f"test: importing {name} is forbidden in the runtime")
    sys.meta_path.insert(0, BlockTensorFlow())
    """
)


def test_runtime_runs_without_tensorflow(pipeline, reference):
    """In a process where importing TensorFlow or Keras raises, every artifact loads and
    predicts what it predicted when it was converted, and neither module is ever imported."""
    script = BLOCK_TENSORFLOW + textwrap.dedent(
        f"""
        import numpy as np, runtime
        from runtime.store.bundles import load_reference
        ref = load_reference({str(pipeline.models)!r})
        for name in {FORMATS!r}:
            probs = runtime.load({str(pipeline.models)!r} + "/" + name).predict(ref.images)
            print(name, int((probs.argmax(1) == ref.probs.argmax(1)).sum()))
        print("modules", sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "modules []"
    agreed = {line.split()[0]: int(line.split()[1]) for line in lines[:-1]}
    # Each file agrees with Keras exactly as often as when the conversion checked it, with TensorFlow loaded.
    assert agreed == {name: round(pipeline.artifact(name)["metrics"]["agreement"] * len(reference.images))
                      for name in FORMATS}


def test_the_guard_itself_blocks_tensorflow():
    script = BLOCK_TENSORFLOW + "import keras\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "importing keras is forbidden" in result.stderr


@pytest.fixture(scope="module", params=FORMATS)
def model(request, pipeline):
    return runtime.load(pipeline.models / request.param)


def test_single_image_and_batch_agree(model, reference):
    batch = model.predict(reference.images[:5])
    single = model.predict(reference.images[3])
    assert batch.shape == (5, 10) and single.shape == (1, 10) and batch.dtype == np.float32
    np.testing.assert_allclose(single[0], batch[3], atol=1e-6)
    np.testing.assert_allclose(batch.sum(1), 1.0, atol=0.02)


def test_floats_in_unit_range_equal_uint8(model, reference):
    images = reference.images[:8]
    np.testing.assert_array_equal(model.predict(images / np.float32(255)), model.predict(images))


def test_batches_larger_than_a_chunk(model):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (MAX_BATCH * 2 + 7, 28, 28), dtype=np.uint8)
    whole = model.predict(images)
    parts = np.concatenate([model.predict(images[i : i + 100]) for i in range(0, len(images), 100)])
    assert whole.shape == (len(images), 10)
    np.testing.assert_allclose(whole, parts, atol=1e-6)
    assert model.predict(images[:0]).shape == (0, 10)


@pytest.mark.parametrize(
    "images, error, message",
    [
        (np.zeros((2, 28, 27), np.uint8), ValueError, r"got shape \(2, 28, 27\), expected uint8 pixels"),
        (np.zeros((2, 1, 28, 28), np.uint8), ValueError, r"got shape \(2, 1, 28, 28\)"),
        (np.zeros(784, np.uint8), ValueError, r"got shape \(784,\)"),
        (np.zeros((2, 28, 28), np.int64), TypeError, r"got dtype int64, expected uint8 pixels 0..255 or floats in 0..1"),
        (np.full((1, 28, 28), 255.0, np.float32), ValueError, r"float values span 255..255, expected 0..1 \(pass the uint8 pixels"),
        (np.full((1, 28, 28), -0.5), ValueError, r"float values span -0.5..-0.5, expected 0..1"),
        (np.full((1, 28, 28), np.nan, np.float32), ValueError, r"NaN or infinite"),
    ],
)
def test_bad_input_is_refused(model, images, error, message):
    with pytest.raises(error, match=message):
        model.predict(images)


def test_load_errors_name_the_file(pipeline, tmp_path):
    with pytest.raises(ModelFileError, match="model file not found"):
        runtime.load(tmp_path / "missing.tflite")
    with pytest.raises(ModelFileError, match="Keras models need TensorFlow"):
        runtime.load(pipeline.models / "mnist_mlp.keras")
    with pytest.raises(ModelFileError, match=r"unknown model format '\.bin'"):
        (tmp_path / "model.bin").write_bytes(b"x")
        runtime.load(tmp_path / "model.bin")
    data = (pipeline.models / "mnist_mlp_int8.tflite").read_bytes()
    (tmp_path / "half.tflite").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"half\.tflite: not a valid TFLite model"):
        runtime.load(tmp_path / "half.tflite")
    (tmp_path / "text.onnx").write_text("hello")
    with pytest.raises(ModelFileError, match=r"text\.onnx: not a valid ONNX model"):
        runtime.load(tmp_path / "text.onnx")


def test_checksum_mismatch_is_refused_unless_opted_out(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    manifest = json.loads((models / "manifest.json").read_text())
    for entry in manifest["artifacts"]:
        if entry["path"] == "mnist_mlp_int8.tflite":
            entry["sha256"] = "0" * 64
    (models / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match=r"mnist_mlp_int8\.tflite: sha256 .* does not match the manifest"):
        runtime.load(models / "mnist_mlp_int8.tflite")
    assert runtime.load(models / "mnist_mlp_int8.tflite", verify_checksum=False).predict(np.zeros((28, 28), np.uint8)).shape == (1, 10)


def test_backend_choice(pipeline):
    path = pipeline.models / "mnist_mlp_int8.tflite"
    assert runtime.load(path).backend.name == "litert"
    with pytest.raises(ValueError, match="backend 'onnxruntime' cannot run .tflite files; use litert or tflite-runtime"):
        runtime.load(path, backend="onnxruntime")
    with pytest.raises(ValueError, match="backend: got 'tensorflow', expected one of litert, tflite-runtime, onnxruntime, tflite-micro"):
        runtime.load(path, backend="tensorflow")


@pytest.mark.parametrize("version, disabled", [("1.21", "WeightBiasQuantization"), ("1.21.1", "WeightBiasQuantization"),
                                               ("1.20.1", None), ("1.22.0", None), ("1.32.0", None)])
def test_onnxruntime_transformer_disabled_only_in_its_release(version, disabled):
    """onnxruntime 1.21's WeightBiasQuantization changes a float model's answers (runtime/backends/onnx_runtime.py),
    and is disabled in that release only ("1.21" is Debian's version string). Its effect is checked with
    the real 1.21 in tests/test_pi_emulation.py (Debian 13 armhf); here, which releases get which options."""
    import types

    import onnxruntime

    from runtime.backends.onnx_runtime import onnx_session_options

    release = types.SimpleNamespace(__version__=version, SessionOptions=onnxruntime.SessionOptions)
    options = onnx_session_options(release, num_threads=2)
    assert options.intra_op_num_threads == 2
    key = "optimization.disable_specified_optimizers"
    if disabled is None:
        with pytest.raises(RuntimeError, match="does not have configuration"):
            options.get_session_config_entry(key)
    else:
        assert options.get_session_config_entry(key) == disabled


def test_debian_onnxruntime_schema_messages_are_dropped(capfd):
    """Debian's onnxruntime 1.21 writes 567 of these to fd 2 at a process's first session (with an
    empty line after each); they go, and every other line stays, empty ones included."""
    import os

    from runtime.backends.native_output import filtered_stderr

    duplicate = ("Schema error: Trying to register schema with name Abs (domain:  version: 1) from file "
                 "./onnx/defs/math/old.cc line 2729, but it is already registered from file ./onnx/defs/math/old.cc line 2729\n\n")
    other = "Schema error: Trying to register schema with name Foo (domain:  version: 99) from file x.cc line 1, but its version is not in range\n"
    with filtered_stderr():
        os.write(2, (duplicate * 3 + "an error\n\n" + other + duplicate + "last\n").encode())
    assert capfd.readouterr().err == "an error\n\n" + other + "last\n"
