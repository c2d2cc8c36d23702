"""Keras model to a float ONNX file. Keras 3's own exporter is used: tf2onnx's
`from_keras` does not understand Keras 3 models."""

from __future__ import annotations

import warnings
from pathlib import Path

ONNX_PRECISIONS = ("float32", "int8")


def export_onnx(model, path: Path) -> None:
    """Writes `path` and checks it with onnx.checker."""
    import numpy as np
    import onnx

    # Keras refuses to export a freshly loaded model that has never been called.
    model(np.zeros((1, *model.input_shape[1:]), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tf2onnx probes the removed np.object
        model.export(str(path), format="onnx", verbose=False)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def quantize_onnx(float_path: Path, path: Path, calibration, per_channel: bool = True) -> None:
    """Static int8 quantization with onnxruntime's tools: QDQ format, int8 weights and
    activations (MinMax calibration on `calibration`, float32 images in 0..1 from the
    training split, the same set as TFLite int8). Input and output stay float32."""
    import tempfile

    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    input_name = ort.InferenceSession(str(float_path), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Images(CalibrationDataReader):
        def __init__(self):
            self._batches = iter(np.asarray(calibration, np.float32)[:, np.newaxis])

        def get_next(self):
            image = next(self._batches, None)
            return None if image is None else {input_name: image}

    with tempfile.TemporaryDirectory() as work:
        prepared = Path(work) / "prepared.onnx"
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(path), Images(), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            per_channel=per_channel, calibrate_method=CalibrationMethod.MinMax,
        )
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
