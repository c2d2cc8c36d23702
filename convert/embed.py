"""The input contract and labels written into every exported file, so an app that receives
only the file knows them (runtime/store/embedded.py reads them back; conversion checks it does).

- TFLite: TFLite metadata, the schema Android's LiteRT support library reads: the model's name
  and description, the input as an image (grayscale or RGB) with NormalizationOptions mean and
  std in pixel units, and the output's labels.txt (TENSOR_AXIS_LABELS); the whole contract as
  input_contract.json. Written with the flatbuffers package, the metadata schema's generated
  code (vendored in convert/tflite_metadata_schema, as no maintained package ships it) and
  LiteRT's model schema, field for field as tflite-support 0.4.4's metadata writer wrote them,
  so the bytes are those it gave.
- ONNX: metadata_props `model`, `labels` (a JSON list) and `input_contract` (JSON), plus a
  readable doc_string.
- The golden set (runtime/store/golden.py), once the file has passed its check: one more
  associated file with its sha256 beside it (TFLite), two more metadata_props (ONNX), written
  so that the model's own bytes, whose sha256 the set records, do not change.

An artifact whose input is uint8 pixels (the scaling inside the graph, convert/pixel_input.py)
says so: its NormalizationOptions are mean 0, std 1, the pixels as they are."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from pathlib import Path

import flatbuffers

from runtime.contract import InputContract
from runtime.errors import ToolkitError, one_line
from runtime.store.embedded import (CONTRACT_FILE, CONTRACT_KEY, GOLDEN_FILE, GOLDEN_KEY, GOLDEN_SUM_FILE, GOLDEN_SUM_KEY,
                                    LABELS_FILE, LABELS_KEY, MODEL_KEY, onnx_model_sha256, read_golden)
from runtime.tables import plural

from .tflite_metadata_schema import metadata_schema_py_generated as meta

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""The date of the associated files in the appended zip: the zip format's first, so the same
model gives the same bytes on any day."""
METADATA_IDENTIFIER = b"M001"
"""The metadata flatbuffer's file_identifier (metadata_schema.fbs)."""
MODEL_IDENTIFIER = b"TFL3"
METADATA_NAME = "TFLITE_METADATA"
"""The Model.metadata entry whose buffer holds the metadata, the name every reader looks up."""
MIN_PARSER_VERSION = "1.0.0"
"""ModelMetadata.min_parser_version: every field written here is in the schema's first version
(1.0.0; the history in metadata_schema.fbs lists what later ones added). tflite-support computed
the same value for these files."""
LABELS_DESCRIPTION = "Labels for categories that the model can recognize."
PIXEL_RANGE = (0.0, 255.0)


class MetadataError(ToolkitError, ValueError):
    """The metadata could not be written (a missing package, or a model it does not fit)."""


def _description(contract: InputContract, labels: list) -> str:
    return (f"Image classifier, {len(labels)} {plural(len(labels), 'class', 'classes')} ({', '.join(labels[:12])}{', ...' if len(labels) > 12 else ''}). "
            f"Input: {contract.describe()}. Files: {contract.describe_preprocessing()}.")


def _contract_json(contract: InputContract) -> str:
    return json.dumps(contract.to_json(), sort_keys=True)


def _model_schema():
    """LiteRT's generated TFLite model schema (its object API repacks the model)."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError as err:
        raise MetadataError(f"writing TFLite metadata needs LiteRT's model schema ({one_line(err)}): "
                            "pip install ai-edge-litert, or convert with --no-metadata") from err
    return schema_py_generated


def tflite_with_metadata(data: bytes, name: str, contract: InputContract, labels: list) -> bytes:
    """`data` (a .tflite flatbuffer) with the contract and labels embedded as TFLite metadata."""
    schema = _model_schema()
    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
        subgraph = model.subgraphs[0]
        inputs, outputs = list(subgraph.inputs), list(subgraph.outputs)
        input_type = subgraph.tensors[inputs[0]].type
    except (IndexError, TypeError, AttributeError, ValueError) as err:
        raise MetadataError(f"not a TFLite model with one subgraph: {one_line(err)}") from err
    if len(inputs) != 1 or len(outputs) != 1:
        raise MetadataError(f"the TFLite model has {len(inputs)} inputs and {len(outputs)} outputs; "
                            "the metadata describes one image input and one probability output")
    buffer = schema.BufferT()
    buffer.data = _model_metadata(name, contract, labels, input_type, schema.TensorType)
    model.buffers = model.buffers or []
    model.metadata = model.metadata or []
    earlier = [m for m in model.metadata if m.name.decode("utf-8") == METADATA_NAME]
    if earlier:  # written before: replaced where it is, so writing again gives the same bytes
        model.buffers[earlier[0].buffer] = buffer
    else:
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    return _with_files(_packed(model, MODEL_IDENTIFIER), {
        LABELS_FILE: ("\n".join(labels) + "\n").encode("utf-8"),
        CONTRACT_FILE: _contract_json(contract).encode("utf-8"),
    })


def _packed(table, identifier: bytes) -> bytes:
    builder = flatbuffers.Builder(0)
    builder.Finish(table.Pack(builder), identifier)
    return bytes(builder.Output())


def _model_metadata(name: str, contract: InputContract, labels: list, input_type: int, tensor_types) -> bytes:
    """The ModelMetadata flatbuffer: packed once, read back and packed again with its
    min_parser_version, as tflite-support's populator did (the same bytes)."""
    model = meta.ModelMetadataT()
    model.name = name
    model.description = _description(contract, labels)
    model.associatedFiles = [_associated_file(CONTRACT_FILE, "The input contract as JSON (edge-mnist's runtime reads it).",
                                              meta.AssociatedFileType.UNKNOWN)]
    subgraph = meta.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [_image_metadata(contract, input_type, tensor_types)]
    subgraph.outputTensorMetadata = [_probability_metadata()]
    model.subgraphMetadata = [subgraph]
    first = _packed(model, METADATA_IDENTIFIER)
    model = meta.ModelMetadataT.InitFromObj(meta.ModelMetadata.GetRootAs(first, 0))
    model.minParserVersion = MIN_PARSER_VERSION
    return _packed(model, METADATA_IDENTIFIER)


def _associated_file(name: str, description: str, kind: int):
    file = meta.AssociatedFileT()
    file.name = name
    file.description = description
    file.type = kind
    return file


def _tensor_metadata(name: str, description: str, minimum, maximum, properties, properties_type: int):
    tensor = meta.TensorMetadataT()
    tensor.name = name
    tensor.description = description
    tensor.stats = meta.StatsT()
    tensor.stats.max = maximum
    tensor.stats.min = minimum
    tensor.content = meta.ContentT()
    tensor.content.contentProperties = properties
    tensor.content.contentPropertiesType = properties_type
    return tensor


def _image_metadata(contract: InputContract, input_type: int, tensor_types):
    """The input as an image: colour space, NormalizationOptions in pixel units, and the value
    range the tensor then holds (uint8: 0..255; float32: the normalised pixel range)."""
    channels = contract.channels
    if input_type == tensor_types.UINT8:  # the scaling is inside the model: it takes pixels as they are
        mean, std = [0.0], [1.0]
    else:
        mean = [m * contract.pixel_scale for m in (contract.mean or (0.0,))]
        std = [s * contract.pixel_scale for s in (contract.std or (1.0,))]
    mean = mean * channels if len(mean) == 1 else mean
    std = std * channels if len(std) == 1 else std
    if input_type == tensor_types.UINT8:
        minimum, maximum = [0], [255]
    elif input_type == tensor_types.FLOAT32:
        minimum = [float(PIXEL_RANGE[0] - m) / s for m, s in zip(mean, std)]
        maximum = [float(PIXEL_RANGE[1] - m) / s for m, s in zip(mean, std)]
    else:
        minimum = maximum = None
    image = meta.ImagePropertiesT()
    image.colorSpace = meta.ColorSpaceType.GRAYSCALE if channels == 1 else meta.ColorSpaceType.RGB
    tensor = _tensor_metadata("image", contract.describe_preprocessing(), minimum, maximum, image,
                              meta.ContentProperties.ImageProperties)
    normalization = meta.ProcessUnitT()
    normalization.optionsType = meta.ProcessUnitOptions.NormalizationOptions
    normalization.options = meta.NormalizationOptionsT()
    normalization.options.mean = mean
    normalization.options.std = std
    tensor.processUnits = [normalization]
    return tensor


def _probability_metadata():
    tensor = _tensor_metadata("probability", "Probabilities of the labels, in the order of labels.txt.", None, None,
                              meta.FeaturePropertiesT(), meta.ContentProperties.FeatureProperties)
    tensor.associatedFiles = [_associated_file(LABELS_FILE, LABELS_DESCRIPTION, meta.AssociatedFileType.TENSOR_AXIS_LABELS)]
    return tensor


def _with_files(model: bytes, files: dict) -> bytes:
    """The model with its associated files appended as a zip archive (the layout TFLite
    metadata readers expect), entries dated ZIP_DATE so the bytes do not depend on the day."""
    out = io.BytesIO(model)
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a") as archive:
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=ZIP_DATE), content)
    return out.getvalue()


def add_onnx_metadata(model, name: str, contract: InputContract, labels: list) -> None:
    """Puts the contract and labels in the ONNX ModelProto's metadata_props."""
    values = {MODEL_KEY: name, LABELS_KEY: json.dumps(list(labels)), CONTRACT_KEY: _contract_json(contract)}
    kept = [p for p in model.metadata_props if p.key not in values]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in values.items():
        model.metadata_props.add(key=key, value=value)
    model.doc_string = _description(contract, labels)


GOLDEN_DESCRIPTION = ("The golden set: a few reference images, the Keras model's probabilities and this file's outputs "
                      "on them, as an .npz archive (`python -m runtime parity FILE` checks the file with it).")
GOLDEN_SUM_DESCRIPTION = "The sha256 of golden_set.npz, in sha256sum's format."


def _archive_start(data: bytes) -> int:
    """Where the appended zip archive of associated files starts (the flatbuffer ends)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return min(info.header_offset for info in archive.infolist())


def tflite_with_golden_set(data: bytes, make) -> bytes:
    """`data` (a .tflite file with this module's metadata) with its golden set: the metadata
    declares golden_set.npz and golden_set.sha256 (replacing earlier ones), then `make(sha256 of
    the model bytes)` gives the set's bytes, appended with the other associated files; `data`
    unchanged when it gives none (b"")."""
    schema = _model_schema()
    start = _archive_start(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist() if name not in (GOLDEN_FILE, GOLDEN_SUM_FILE)}
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data[:start], 0))
    entry = next((m for m in model.metadata or [] if m.name.decode("utf-8") == METADATA_NAME), None)
    if entry is None:
        raise MetadataError("the TFLite model has no metadata to declare a golden set in")
    buffer = model.buffers[entry.buffer]
    metadata = meta.ModelMetadataT.InitFromObj(meta.ModelMetadata.GetRootAs(bytes(bytearray(buffer.data)), 0))
    kept = [f for f in metadata.associatedFiles or [] if f.name.decode("utf-8") not in (GOLDEN_FILE, GOLDEN_SUM_FILE)]
    metadata.associatedFiles = kept + [_associated_file(GOLDEN_FILE, GOLDEN_DESCRIPTION, meta.AssociatedFileType.UNKNOWN),
                                       _associated_file(GOLDEN_SUM_FILE, GOLDEN_SUM_DESCRIPTION, meta.AssociatedFileType.UNKNOWN)]
    buffer.data = _packed(metadata, METADATA_IDENTIFIER)
    flatbuffer = _packed(model, MODEL_IDENTIFIER)
    golden = make(hashlib.sha256(flatbuffer).hexdigest())
    if not golden:
        return data
    files[GOLDEN_FILE] = golden
    files[GOLDEN_SUM_FILE] = f"{hashlib.sha256(golden).hexdigest()}  {GOLDEN_FILE}\n".encode("ascii")
    return _with_files(flatbuffer, files)


def onnx_with_golden_set(path, make) -> None:
    """Adds the golden set to the .onnx file at `path` (metadata_props `golden_set`, base64, and
    `golden_set_sha256`): `make(sha256 of the model bytes)` gives the set's bytes. The model's
    other fields keep their bytes (checked), so that sha256 stays the file's. The file is left
    as it is when `make` gives no set (b"")."""
    import onnx

    digest = onnx_model_sha256(Path(path).read_bytes())
    golden = make(digest)
    if not golden:
        return
    model = onnx.load(str(path))
    values = {GOLDEN_KEY: base64.b64encode(golden).decode("ascii"), GOLDEN_SUM_KEY: hashlib.sha256(golden).hexdigest()}
    kept = [p for p in model.metadata_props if p.key not in values]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in values.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    carried = read_golden(path)
    if carried is None or carried.graph_sha256 != digest:
        raise MetadataError(f"{path}: saving the golden set changed the model's other bytes; it is not embedded")
