"""Reads a .tflite file's TFLite metadata back the way the Android support library does: the
Model's "TFLITE_METADATA" buffer as an M001 ModelMetadata flatbuffer, and the zip of associated
files appended to the model."""

import io
import zipfile
from pathlib import Path

from ai_edge_litert import schema_py_generated as model_schema

from convert.tflite_metadata_schema import metadata_schema_py_generated as meta


def read_tflite_metadata(path) -> tuple:
    """(ModelMetadataT, {associated file name: bytes}) of a .tflite file."""
    data = Path(path).read_bytes()
    model = model_schema.Model.GetRootAs(data, 0)
    names = [model.Metadata(i).Name().decode() for i in range(model.MetadataLength())]
    assert names.count("TFLITE_METADATA") == 1, names
    buffer = model.Buffers(model.Metadata(names.index("TFLITE_METADATA")).Buffer())
    raw = buffer.DataAsNumpy().tobytes()
    assert meta.ModelMetadata.ModelMetadataBufferHasIdentifier(raw, 0)
    metadata = meta.ModelMetadataT.InitFromObj(meta.ModelMetadata.GetRootAs(raw, 0))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return metadata, files
