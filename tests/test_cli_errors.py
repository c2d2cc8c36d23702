"""Every command, invoked wrongly, answers with one `error:` line and a non-zero exit status:
never a Python traceback, and nothing written where nothing should be."""

import numpy as np
import pytest

from conftest import run_cli


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    work = tmp_path_factory.mktemp("wrong")
    (work / "text.png").write_text("not an image")
    (work / "junk.npz").write_bytes(b"PK\x03\x04" + b"\0" * 60)  # a zip header, then nothing readable
    (work / "labels.txt").write_text("a\n\nb\n")
    np.savez(work / "flat.npz", x=np.zeros((10, 784), np.uint8))
    (work / "empty").mkdir()
    return work


WRONG = [
    # (command, arguments; {m}: the pipeline's models, {w}: a folder of wrong files)
    ("runtime", "predict {w}/text.png --model {m}/mnist_mlp_int8.tflite --backend onnxruntime"),
    ("runtime", "predict {w}/text.png --model {m}"),
    ("runtime", "predict {w}/text.png --model {m}/manifest.json"),
    ("runtime", "predict {w}/text.png --models {w}/empty"),
    ("runtime", "predict {w}/empty --model {m}/mnist_mlp_int8.tflite"),
    ("runtime", "predict {w}/text.png --model {m}/mnist_mlp_int8.tflite --threads 0"),
    ("runtime", "info {w}/text.png"),
    ("runtime", "info {m}/mnist_mlp.keras"),
    ("runtime", "parity --models {w}/empty"),
    ("runtime", "parity --models {m} --max-drop -1"),
    ("runtime", "bench --models {w}/empty"),
    ("runtime", "bench --models {m} --runs 0"),
    ("runtime", "nonsense"),
    ("convert", "all --models {w}/missing"),
    ("convert", "all --models {m} --calibration-samples 0"),
    ("convert", "all --models {m} --quantize int4"),
    ("convert", "micro --models {m} --quantize int8 float32"),
    ("convert", "all --data {w}/flat.npz"),
    ("convert", "all --keras {w}/text.png --data {w}/flat.npz --models {w}/out1"),
    ("convert", "all --keras {m}/mnist_mlp.keras --data {w}/junk.npz --models {w}/out2"),
    ("convert", "all --keras {m}/mnist_mlp.keras --data {w}/flat.npz --models {w}/out3"),
    ("convert", "all --keras {m}/mnist_mlp.keras --data {w}/empty --models {w}/out4"),
    ("convert", "all --keras {m}/mnist_mlp.keras --data {w}/flat.npz --input-scale 0"),
    ("train", "--data {w}/text.png --models {w}/out5"),
    ("train", "--data {w}/junk.npz --models {w}/out6"),
    ("train", "--labels {w}/labels.txt --dataset mnist-5k --models {w}/out7"),
    ("train", "--model vgg16"),
    ("train", "--epochs 0"),
]


LOADS_KERAS = {
    "all --keras {w}/text.png --data {w}/flat.npz --models {w}/out1",
    "all --keras {m}/mnist_mlp.keras --data {w}/junk.npz --models {w}/out2",
    "all --keras {m}/mnist_mlp.keras --data {w}/flat.npz --models {w}/out3",
    "all --keras {m}/mnist_mlp.keras --data {w}/empty --models {w}/out4",
}
"""Cases that import TensorFlow and load the Keras file before the error (~6 s each): slow tier."""


@pytest.mark.parametrize("command, arguments", [
    pytest.param(c, a, id=f"{c} {a.split()[0]} #{i}", marks=[pytest.mark.slow] if a in LOADS_KERAS else [])
    for i, (c, a) in enumerate(WRONG)
])
def test_wrong_invocations_get_one_error_line(pipeline, files, command, arguments):
    args = arguments.format(m=pipeline.models, w=files).split()
    result = run_cli(command, *args)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    for out in ("out1", "out2", "out3", "out4", "out5", "out6", "out7", "missing"):
        assert not (files / out).exists(), f"{out} was written before the error"
