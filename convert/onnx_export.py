"""Keras model to a float ONNX file of its inference graph.

Keras 3's `model.export(format="onnx")` traces the model with each layer's default
`training` argument, which is True for the random augmentation layers (RandomFlip,
RandomRotation, ...): their random ops reach the graph, where tf2onnx cannot convert them, and
BatchNormalization's moving-average updates are traced as well. It also hands tf2onnx every
tensor the traced call captured as a graph input, so an adapted Normalization's mean and
variance became extra inputs. Here the call is traced with training=False, frozen (variables
and captured tensors become constants, which tf2onnx folds) and converted with its one input
and one output named. (tf2onnx's own `from_keras` does not understand Keras 3 models.)"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from pathlib import Path
from typing import Optional

from runtime.errors import ToolkitError

ONNX_PRECISIONS = ("float32", "int8")
ONNX_OPSET = 15
"""The opset tf2onnx 1.16-1.17 writes by default, as Keras's exporter wrote before."""
OUTPUT_NAME = "Identity:0"
"""The graph output's name, as earlier files named it."""
UNSUPPORTED_OP = re.compile(r"Tensorflow op \[(?P<name>[^:\]]+): (?P<type>[^\]]+)\] is not supported")
"""tf2onnx's log line for an op it cannot convert (it then leaves the op in the graph)."""


class OnnxExportError(ToolkitError, ValueError):
    """The Keras model cannot become a one-input, one-output ONNX graph; says which layer."""


class TfOnnxLog(logging.Handler):
    """tf2onnx's log records, kept from the user while it converts (its "ERROR:tf2onnx..."
    lines read as our failure) and read for the ops it could not convert."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def unsupported_ops(self) -> list:
        """[(op name, op type)] of the ops tf2onnx could not convert."""
        found = []
        for record in self.records:
            match = UNSUPPORTED_OP.search(record.getMessage())
            if match:
                found.append((match["name"], match["type"]))
        return found


@contextlib.contextmanager
def captured_tf2onnx_log(verbose: bool = False):
    """Every record of the "tf2onnx" loggers goes to the returned TfOnnxLog, and (unless
    `verbose`) nowhere else; TensorFlow's deprecation warnings about the TF1 freezing calls
    tf2onnx makes are hidden too. The loggers are restored after."""
    logger = logging.getLogger("tf2onnx")
    tensorflow = logging.getLogger("tensorflow")
    tensorflow_level = tensorflow.level
    handler = TfOnnxLog()
    saved = logger.level, logger.propagate, list(logger.handlers)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    if not verbose:
        logger.propagate = False
        tensorflow.setLevel(logging.ERROR)
        for other in saved[2]:
            logger.removeHandler(other)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        tensorflow.setLevel(tensorflow_level)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        for other in saved[2]:
            if other not in logger.handlers:
                logger.addHandler(other)


def keras_layers(model) -> dict:
    """Layer name -> layer, for every layer of `model` and of the models nested in it."""
    found = {}

    def walk(parent):
        for layer in getattr(parent, "layers", ()):
            found.setdefault(layer.name, layer)
            walk(layer)

    walk(model)
    return found


def layer_of(tensor_name: str, layers: dict) -> Optional[str]:
    """"random_flip (RandomFlip)": the innermost Keras layer whose name scope holds the
    TensorFlow op or tensor `tensor_name` ("resnet_1/random_flip_1/stateless_random_uniform"),
    or None. TensorFlow appends _1, _2 ... to a scope entered again."""
    found = None
    for segment in tensor_name.split(":")[0].split("/"):
        for candidate in (segment, re.sub(r"_\d+$", "", segment)):
            if candidate in layers:
                found = layers[candidate]
                break
    return None if found is None else f"{found.name} ({type(found).__name__})"


def _named_by_layer(items, layers: dict) -> str:
    """"ImageProjectiveTransformV3 in layer random_rotation (RandomRotation)", ... for
    [(op or tensor name, what)]."""
    parts = []
    for name, what in items:
        layer = layer_of(name, layers)
        parts.append(f"{what} in layer {layer}" if layer else f"{what} (at {name}, in no Keras layer's name scope)")
    return "; ".join(dict.fromkeys(parts))


def inference_onnx(model, verbose: bool = False):
    """The ONNX ModelProto of `model(x, training=False)`: an input of the model's dtype and shape
    with an open batch, named after the Keras input; one output, OUTPUT_NAME."""
    import tensorflow as tf
    import tf2onnx
    from keras.src.export.tf2onnx_lib import patch_tf2onnx  # Keras's numpy-2 fix for tf2onnx, as model.export applies it
    from tf2onnx import tf_loader

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise OnnxExportError(f"model {model.name}: {len(model.inputs)} inputs and {len(model.outputs)} outputs, "
                              "expected one image input and one output")
    source = model.inputs[0]
    input_name = source.name.split(":")[0]
    spec = tf.TensorSpec((None, *source.shape[1:]), source.dtype, name=input_name)
    function = tf.function(lambda x: model(x, training=False), input_signature=[spec], autograph=False)
    concrete = function.get_concrete_function()
    inputs = [t.name for t in concrete.inputs[:1]]  # the image; the captured variables and tensors follow it
    outputs = [t.name for t in concrete.outputs]
    if len(outputs) != 1:
        raise OnnxExportError(f"model {model.name}: its inference call returns {len(outputs)} tensors, expected one")
    layers = keras_layers(model)
    with captured_tf2onnx_log(verbose) as log, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Keras's patch and tf2onnx probe the removed np.object
        patch_tf2onnx()
        frozen = tf_loader.from_function(concrete, inputs, outputs)
        proto, _ = tf2onnx.convert.from_graph_def(
            frozen, name=model.name, input_names=inputs, output_names=outputs, opset=ONNX_OPSET,
            tensors_to_rename={inputs[0]: input_name, outputs[0]: OUTPUT_NAME})
    unsupported = log.unsupported_ops()
    if unsupported:
        raise OnnxExportError(f"model {model.name}: ONNX has no equivalent of "
                              f"{_named_by_layer([(n, f'TensorFlow op {t}') for n, t in unsupported], layers)}")
    graph = proto.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        extra = [(i.name, f"input {i.name}") for i in graph.input if i.name != input_name]
        raise OnnxExportError(f"model {model.name}: the ONNX graph has {len(graph.input)} inputs and {len(graph.output)} "
                              f"outputs, expected 1 and 1; the extra: {_named_by_layer(extra, layers) or 'none'}")
    return proto


def export_onnx(model, path: Path, verbose: bool = False) -> None:
    """Writes `path` with canonical names (so the same model gives the same bytes) and checks
    it with onnx.checker."""
    import onnx

    exported = canonical_names(inference_onnx(model, verbose))
    onnx.checker.check_model(exported, full_check=True)
    onnx.save(exported, str(path))


class FloatOnnx:
    """The float ONNX file of one Keras model, exported at the first `write` and copied
    after: `convert` writes it as the float32 artifact and quantizes it for int8, and
    exporting a deep model takes seconds to a minute. An export error is raised again."""

    def __init__(self, model, verbose: bool = False):
        self._model = model
        self._verbose = verbose
        self._data = None
        self._error = None

    def write(self, path: Path) -> None:
        if self._error is not None:
            raise self._error
        if self._data is None:
            try:
                export_onnx(self._model, path, self._verbose)
            except Exception as err:
                self._error = err
                raise
            self._data = Path(path).read_bytes()
            return
        Path(path).write_bytes(self._data)


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


ONNX_ACTIVATIONS = ("int8", "int16")
"""int8: int8 activations and weights. int16: int16 activations and weights (16x16). With int8
weights (16x8), onnxruntime 1.32's CPU graph optimizer fuses each weight's DequantizeLinear and
MatMul into MatMulNBits and computes it wrongly (the seed MLP agreed with its float model on 75%
of images, on 100% with optimizations off), so 16-bit activations get 16-bit weights."""


def quantize_onnx(float_path: Path, path: Path, calibration, per_channel: bool = True) -> None:
    """Static int8 quantization with onnxruntime's tools: QDQ format, int8 weights and
    activations (MinMax calibration on `calibration`, float32 images in 0..1 from the
    training split, the same set as TFLite int8). Input and output stay float32."""
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        prepared = Path(work) / "prepared.onnx"
        prepare_for_quantization(float_path, prepared)
        quantize_prepared(prepared, path, calibration, per_channel)


def prepare_for_quantization(float_path: Path, prepared: Path) -> None:
    """onnxruntime's pre-processing (shape inference, basic graph optimizations: MatMul and
    Add become Gemm), written to `prepared`; its node names are what quantize_prepared's
    `nodes_to_exclude` takes."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)


def quantize_prepared(prepared: Path, path: Path, calibration, per_channel: bool = True, nodes_to_exclude=(),
                      activations: str = "int8", reduce_range: bool = False) -> None:
    """quantize_onnx from a prepared float model, with the nodes named in `nodes_to_exclude`
    kept in float, `activations` one of ONNX_ACTIVATIONS and, with `reduce_range`, 7-bit int8
    weights (onnxruntime's remedy for its x86 int8 kernels without VNNI, whose 16-bit sums of
    u8 x s8 products saturate); checked with onnx.checker."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if activations not in ONNX_ACTIVATIONS:
        raise ValueError(f"activations: got {activations!r}, expected one of {', '.join(ONNX_ACTIVATIONS)}")
    input_name = ort.InferenceSession(str(prepared), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    kind = QuantType.QInt8 if activations == "int8" else QuantType.QInt16
    with root_logger_quiet():  # 16-bit: "The original model opset version is 15 ... Automatically update ..."
        quantize_static(
            str(prepared), str(path), image_reader(input_name, calibration), quant_format=QuantFormat.QDQ,
            activation_type=kind, weight_type=kind,
            per_channel=per_channel, reduce_range=reduce_range, calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=list(nodes_to_exclude),
        )
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


@contextlib.contextmanager
def root_logger_quiet():
    """onnxruntime's quantization tools log their notices on the root logger: kept from the
    user's terminal (`--verbose` shows the converters' own lines, the quantizer's are notes)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def image_reader(input_name: str, images):
    """An onnxruntime CalibrationDataReader that feeds `images` (float32 model inputs) one at a
    time as the graph input `input_name`: what quantize_static and qdq_loss_debug read."""
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader

    class Images(CalibrationDataReader):
        def __init__(self):
            self._batches = iter(np.asarray(images, np.float32)[:, np.newaxis])

        def get_next(self):
            image = next(self._batches, None)
            return None if image is None else {input_name: image}

    return Images()


def finish_onnx(path: Path, contract, labels, name: str) -> None:
    """Rewrites the ONNX file at `path` for delivery: the uint8 pixel input (see
    convert/pixel_input.py), the contract and labels in its metadata (when `labels` is not
    None), checked with onnx.checker."""
    import onnx

    from .embed import add_onnx_metadata
    from .pixel_input import onnx_with_pixel_input

    model = onnx_with_pixel_input(onnx.load(str(path)), contract)
    if labels is not None:
        add_onnx_metadata(model, name, contract, labels)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
