"""What `python -m convert all` costs against TensorFlow's own conversion of the same four
outputs, each as a whole process: wall time and peak resident memory. Training side.

The baseline, in one process, is what a user would write by hand: load the .keras file;
TFLiteConverter float32, then int8 with the same calibration images; tf2onnx's
`convert.from_function` of the inference call; onnxruntime's `quantize_static` of that
file. `convert all` does the same and more: the uint8 pixel input, metadata, each file
loaded back and checked against Keras on the reference images (and, when int8 TFLite fails
its check, the layer-by-layer diagnosis). Targets: at most 2x the time, 1.5x the memory.

    python benchmarks/conversion_cost.py --models models/mobilenet_v2 [--json]

The models folder is copied first; it is not changed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.store.folder import ModelsFolder  # noqa: E402 (after the path)
from runtime.store.layout import MICRO_FOLDER, WEB_FOLDER  # noqa: E402

TARGETS = {"time": 2.0, "memory": 1.5}
"""`convert all` at most this many times TensorFlow's own conversion (issue 20, item 8)."""


def peak_run(command: list) -> dict:
    """Wall seconds, peak resident memory (MiB, the process's own, from wait4) and exit
    status of one whole process; "steps" when its last stdout line is JSON."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT,
                                   env=dict(os.environ, PYTHONPATH=str(ROOT)))
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        lines, errors = out.read().strip().splitlines(), err.read().strip().splitlines()
    result = {"seconds": elapsed, "peak_mib": usage.ru_maxrss / 1024, "exit_status": process.returncode,
              "stderr_tail": errors[-3:]}
    if lines and lines[-1].startswith("{"):
        result["steps"] = json.loads(lines[-1])
    return result


def tensorflow_baseline(models: Path, out: Path) -> dict:
    """The four outputs with TensorFlow's, tf2onnx's and onnxruntime's own calls; seconds per step."""
    from train.quiet import quiet_tensorflow

    quiet_tensorflow()
    import numpy as np

    steps = {}
    start = time.perf_counter()
    import keras
    import tensorflow as tf

    folder = ModelsFolder.open(models)
    model = keras.models.load_model(folder.file(folder.manifest.keras.path), compile=False, safe_mode=True)
    calibration = folder.manifest.keras.contract.model_input(folder.calibration_images()).astype(np.float32)
    steps["import and load"] = time.perf_counter() - start

    start = time.perf_counter()
    (out / "float32.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    steps["tflite float32"] = time.perf_counter() - start

    start = time.perf_counter()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[np.newaxis]] for image in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    (out / "int8.tflite").write_bytes(converter.convert())
    steps["tflite int8"] = time.perf_counter() - start

    start = time.perf_counter()
    import tf2onnx
    from keras.src.export.tf2onnx_lib import patch_tf2onnx  # what model.export(format="onnx") applies first

    patch_tf2onnx()
    spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32, name="image")
    function = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    tf2onnx.convert.from_function(function, input_signature=[spec], output_path=str(out / "float32.onnx"))
    steps["onnx float32"] = time.perf_counter() - start

    start = time.perf_counter()
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    session = ort.InferenceSession(str(out / "float32.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    if len(names) != 1:
        steps["onnx int8"] = None
        steps["onnx int8 failed"] = f"the float ONNX file has {len(names)} inputs ({', '.join(names)})"
    else:
        class Images(CalibrationDataReader):
            def __init__(self):
                self.batches = iter(calibration[:, np.newaxis])

            def get_next(self):
                image = next(self.batches, None)
                return None if image is None else {names[0]: image}

        quantize_static(str(out / "float32.onnx"), str(out / "int8.onnx"), Images(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True)
        steps["onnx int8"] = time.perf_counter() - start
    return steps


def compare(models: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="conversion-cost-") as work:
        copy = Path(work) / "models"
        shutil.copytree(models, copy, ignore=shutil.ignore_patterns(WEB_FOLDER, MICRO_FOLDER, "*.tflite", "*.onnx"))
        ours = peak_run([sys.executable, "-m", "convert", "all", "--models", str(copy)])
        baseline_out = Path(work) / "baseline"
        baseline_out.mkdir()
        theirs = peak_run([sys.executable, str(Path(__file__).resolve()), "--tensorflow-baseline", str(copy), str(baseline_out)])
    return {"models": str(models), "convert_all": ours, "tensorflow": theirs,
            "time_ratio": ours["seconds"] / theirs["seconds"],
            "memory_ratio": ours["peak_mib"] / theirs["peak_mib"]}


def format_comparison(data: dict) -> str:
    ours, theirs = data["convert_all"], data["tensorflow"]
    lines = [f"Models: {data['models']}"]
    lines.append(f"  python -m convert all:          {ours['seconds']:7.1f} s  {ours['peak_mib']:7.0f} MiB peak"
                 f"  (exit status {ours['exit_status']})")
    lines.append(f"  TensorFlow's own conversion:    {theirs['seconds']:7.1f} s  {theirs['peak_mib']:7.0f} MiB peak"
                 f"  (exit status {theirs['exit_status']})")
    for who, run in (("convert all", ours), ("TensorFlow", theirs)):
        if run["exit_status"] != 0:
            lines.append(f"    {who} exited {run['exit_status']}: {' / '.join(run['stderr_tail'])}")
    for step, value in (theirs.get("steps") or {}).items():
        if isinstance(value, str):
            text = value  # why the step failed
        elif value is None:
            text = "failed"
        else:
            text = f"{value:7.1f} s"
        lines.append(f"    {step:<28} {text}")
    verdict = "holds" if data["time_ratio"] <= TARGETS["time"] else "MISSED"
    lines.append(f"  time: {data['time_ratio']:.2f}x (target <= {TARGETS['time']:g}x: {verdict})")
    verdict = "holds" if data["memory_ratio"] <= TARGETS["memory"] else "MISSED"
    lines.append(f"  memory: {data['memory_ratio']:.2f}x (target <= {TARGETS['memory']:g}x: {verdict})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="models", metavar="DIR",
                        help="a models folder with a Keras model and its manifest (default: models)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the summary")
    parser.add_argument("--tensorflow-baseline", nargs=2, metavar=("MODELS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tensorflow_baseline:
        print(json.dumps(tensorflow_baseline(Path(args.tensorflow_baseline[0]), Path(args.tensorflow_baseline[1]))))
        return 0
    models = Path(args.models)
    if not ModelsFolder.holds_manifest(models):
        print(f"error: --models {models}: no manifest.json there (run `python -m train` or `python -m convert all --keras ...` first)",
              file=sys.stderr)
        return 2
    data = compare(models)
    print(json.dumps(data, indent=2) if args.json else format_comparison(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
