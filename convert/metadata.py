"""The input contract and labels written into every exported file, so an app that receives
only the file knows them (runtime/metadata.py reads them back; conversion checks it does).

- TFLite: TFLite metadata, written with tflite-support's metadata writer, the schema
  Android's LiteRT support library reads: the model's name and description, the input as
  an image (grayscale or RGB) with NormalizationOptions mean and std in pixel units, and
  the output's labels.txt (TENSOR_AXIS_LABELS); the whole contract as input_contract.json.
  tflite-support pins protobuf<4, which TensorFlow 2.21 cannot use, so it is installed
  without its dependencies (scripts/setup.sh); its metadata writer needs only flatbuffers.
- ONNX: metadata_props `model`, `labels` (a JSON list) and `input_contract` (JSON), plus a
  readable doc_string.

An artifact whose input is uint8 pixels (the scaling inside the graph, convert/pixel_input.py)
says so: its NormalizationOptions are mean 0, std 1, the pixels as they are."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

from runtime.contract import InputContract
from runtime.errors import ToolkitError, one_line
from runtime.metadata import CONTRACT_FILE, CONTRACT_KEY, LABELS_FILE, LABELS_KEY, MODEL_KEY

INSTALL_HINT = ("pip install --no-deps tflite-support (its metadata writer also needs libusb-1.0: "
                "apt-get install libusb-1.0-0), or convert with --no-metadata")


ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""The date of the associated files in the appended zip: the zip format's first, so the same
model gives the same bytes on any day (the writer stamps them with the current time)."""


class MetadataError(ToolkitError, ValueError):
    """The metadata could not be written (a missing package, or a model it does not fit)."""


def _description(contract: InputContract, labels: list) -> str:
    return (f"Image classifier, {len(labels)} classes ({', '.join(labels[:12])}{', ...' if len(labels) > 12 else ''}). "
            f"Input: {contract.describe()}. Files: {contract.describe_preprocessing()}.")


def _contract_json(contract: InputContract) -> str:
    return json.dumps(contract.to_json(), sort_keys=True)


def _tflite_support():
    try:
        from tensorflow_lite_support.metadata import metadata_schema_py_generated as schema
        from tensorflow_lite_support.metadata.python.metadata_writers import metadata_info, metadata_writer
    except ImportError as err:
        raise MetadataError(f"writing TFLite metadata needs tflite-support ({one_line(err)}): {INSTALL_HINT}") from err
    return schema, metadata_info, metadata_writer


def tflite_with_metadata(data: bytes, name: str, contract: InputContract, labels: list) -> bytes:
    """`data` (a .tflite flatbuffer) with the contract and labels embedded as TFLite metadata."""
    schema, metadata_info, metadata_writer = _tflite_support()
    channels = contract.channels
    input_type = _input_type(data)
    if input_type == schema_types().UINT8:  # the scaling is inside the model: it takes pixels as they are
        pixel_mean, pixel_std = [0.0], [1.0]
    else:
        pixel_mean = [m * contract.pixel_scale for m in (contract.mean or (0.0,))]
        pixel_std = [s * contract.pixel_scale for s in (contract.std or (1.0,))]
    if len(pixel_mean) == 1:
        pixel_mean *= channels
    if len(pixel_std) == 1:
        pixel_std *= channels
    general = metadata_info.GeneralMd(name=name, description=_description(contract, labels))
    model_md = general.create_metadata()
    contract_file = schema.AssociatedFileT()
    contract_file.name = CONTRACT_FILE
    contract_file.description = "The input contract as JSON (edge-mnist's runtime reads it)."
    contract_file.type = schema.AssociatedFileType.UNKNOWN
    model_md.associatedFiles = [contract_file]
    with tempfile.TemporaryDirectory() as work:
        labels_path = Path(work) / LABELS_FILE
        labels_path.write_text("\n".join(labels) + "\n", encoding="utf-8")
        contract_path = Path(work) / CONTRACT_FILE
        contract_path.write_text(_contract_json(contract), encoding="utf-8")
        image = metadata_info.InputImageTensorMd(
            name="image", description=contract.describe_preprocessing(), norm_mean=pixel_mean, norm_std=pixel_std,
            color_space_type=schema.ColorSpaceType.GRAYSCALE if channels == 1 else schema.ColorSpaceType.RGB,
            tensor_type=input_type)
        probabilities = metadata_info.ClassificationTensorMd(
            name="probability", description="Probabilities of the labels, in the order of labels.txt.",
            label_files=[metadata_info.LabelFileMd(str(labels_path))])
        try:
            writer = metadata_writer.MetadataWriter.create_from_metadata(
                bytearray(data), model_md, [image.create_metadata()], [probabilities.create_metadata()],
                associated_files=[str(labels_path), str(contract_path)])
            return _dated(bytes(writer.populate()))
        except (ValueError, RuntimeError, TypeError) as err:
            raise MetadataError(f"tflite-support could not write the metadata: {one_line(err)}") from err


def _dated(data: bytes) -> bytes:
    """The model with its appended zip of associated files rewritten, entries in the same
    order and compression, dated ZIP_DATE (the metadata finds them by name, not offset)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        entries = [(info.filename, archive.read(info), info.compress_type) for info in infos]
        start = min(info.header_offset for info in infos)
    out = io.BytesIO(data[:start])
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a") as archive:
        for name, content, compression in entries:
            archive.writestr(zipfile.ZipInfo(name, date_time=ZIP_DATE), content, compress_type=compression)
    return out.getvalue()


def schema_types():
    """TFLite's TensorType enum, from the schema tflite-support ships."""
    from tensorflow_lite_support.metadata import schema_py_generated

    return schema_py_generated.TensorType


def _input_type(data: bytes):
    """The input tensor's type, as the writer wants it (it checks normalisation against it)."""
    from tensorflow_lite_support.metadata.python.metadata_writers import writer_utils

    return writer_utils.get_input_tensor_types(bytearray(data))[0]


def add_onnx_metadata(model, name: str, contract: InputContract, labels: list) -> None:
    """Puts the contract and labels in the ONNX ModelProto's metadata_props."""
    values = {MODEL_KEY: name, LABELS_KEY: json.dumps(list(labels)), CONTRACT_KEY: _contract_json(contract)}
    kept = [p for p in model.metadata_props if p.key not in values]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in values.items():
        model.metadata_props.add(key=key, value=value)
    model.doc_string = _description(contract, labels)
