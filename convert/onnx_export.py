"""Keras model to a float ONNX file. Keras 3's own exporter is used: tf2onnx's
`from_keras` does not understand Keras 3 models."""

from __future__ import annotations

import warnings
from pathlib import Path

ONNX_PRECISIONS = ("float32", "int8")


def export_onnx(model, path: Path) -> None:
    """Writes `path` with canonical names (so the same model gives the same bytes) and checks
    it with onnx.checker."""
    import numpy as np
    import onnx

    # Keras refuses to export a freshly loaded model that has never been called.
    model(np.zeros((1, *model.input_shape[1:]), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tf2onnx probes the removed np.object
        model.export(str(path), format="onnx", verbose=False)
    exported = canonical_names(onnx.load(str(path)))
    onnx.checker.check_model(exported, full_check=True)
    onnx.save(exported, str(path))


def canonical_names(model):
    """The graph with every node, initializer and intermediate tensor renamed after its place
    in the graph ("MatMul_1", "MatMul_1:0", "const_3"), and its symbolic dimensions "batch"; graph
    inputs and outputs keep their names.

    The exporter names them after TensorFlow's name scopes, which count how many graphs the
    process traced before ("mnist_mlp_1/dense_1_2/MatMul", "Reshape_shape__19", "unk__20", and the
    graph's doc_string): converting to TFLite first, or twice, changed the file's bytes and sha256."""
    graph = model.graph
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    names = {}
    for k, tensor in enumerate(graph.initializer):
        names[tensor.name] = f"const_{k}"
    counts = {}
    for node in graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
        node.name = f"{node.op_type}_{counts[node.op_type]}"
        for j, output in enumerate(node.output):
            if output and output not in keep:
                names[output] = f"{node.name}:{j}"
    for tensor in graph.initializer:
        tensor.name = names[tensor.name]
    for node in graph.node:
        node.input[:] = [names.get(name, name) for name in node.input]
        node.output[:] = [names.get(name, name) for name in node.output]
    for info in graph.value_info:
        info.name = names.get(info.name, info.name)
    # "converted from b'__inference___call___1502'" and "unk__20" count traces too.
    graph.doc_string = "exported from Keras by tf2onnx"
    symbols = {}
    for info in [*graph.input, *graph.output, *graph.value_info]:
        for k, dim in enumerate(info.type.tensor_type.shape.dim):
            if dim.HasField("dim_param"):
                dim.dim_param = symbols.setdefault(dim.dim_param, "batch" if k == 0 else f"dim_{len(symbols)}")
    return model


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


def finish_onnx(path: Path, contract, labels, name: str) -> None:
    """Rewrites the ONNX file at `path` for delivery: the uint8 pixel input (see
    convert/pixel_input.py), the contract and labels in its metadata (when `labels` is not
    None), checked with onnx.checker."""
    import onnx

    from .metadata import add_onnx_metadata
    from .pixel_input import onnx_with_pixel_input

    model = onnx_with_pixel_input(onnx.load(str(path)), contract)
    if labels is not None:
        add_onnx_metadata(model, name, contract, labels)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
