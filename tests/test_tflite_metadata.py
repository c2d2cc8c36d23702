"""TFLite metadata written without tflite-support (convert/embed.py with the vendored
metadata schema): what the support library reads, and the same bytes every time."""

import io
import json
import sys
import zipfile

from convert.embed import MIN_PARSER_VERSION, tflite_with_metadata
from convert.tflite_metadata_schema import metadata_schema_py_generated as meta
from runtime.store.manifest import read_manifest
from runtime.store.embedded import read_embedded

from tflite_metadata import read_tflite_metadata


def test_mnist_int8_metadata_fields(pipeline):
    manifest = read_manifest(pipeline.models)
    metadata, files = read_tflite_metadata(pipeline.models / "mnist_mlp_int8.tflite")
    assert metadata.minParserVersion.decode() == MIN_PARSER_VERSION
    assert metadata.name.decode() == manifest.model
    assert [f.name for f in metadata.associatedFiles] == [b"input_contract.json", b"golden_set.npz", b"golden_set.sha256"]
    subgraph = metadata.subgraphMetadata[0]
    image, = subgraph.inputTensorMetadata
    assert image.name == b"image" and image.content.contentPropertiesType == meta.ContentProperties.ImageProperties
    assert image.content.contentProperties.colorSpace == meta.ColorSpaceType.GRAYSCALE
    assert image.processUnits[0].optionsType == meta.ProcessUnitOptions.NormalizationOptions
    assert list(image.processUnits[0].options.std) == [manifest.keras.contract.pixel_scale]
    probability, = subgraph.outputTensorMetadata
    assert probability.associatedFiles[0].type == meta.AssociatedFileType.TENSOR_AXIS_LABELS
    assert files["labels.txt"].decode().splitlines() == manifest.labels
    assert json.loads(files["input_contract.json"]) == manifest.keras.contract.to_json()
    embedded = read_embedded(pipeline.models / "mnist_mlp_int8.tflite")
    assert embedded.labels == manifest.labels and embedded.contract == manifest.keras.contract


def test_writing_again_gives_the_same_bytes_without_tflite_support(pipeline):
    """The metadata replaces the earlier one in place, and no file date or tflite-support enters:
    written again, then sealed again with the file's own golden set, a file has the same bytes."""
    from convert.embed import tflite_with_golden_set
    from runtime.store.embedded import read_golden

    manifest = read_manifest(pipeline.models)
    for name in ("mnist_mlp_int8.tflite", "mnist_mlp_float32.tflite"):
        data = (pipeline.models / name).read_bytes()
        again = tflite_with_metadata(data, manifest.model, manifest.keras.contract, manifest.labels)
        assert tflite_with_metadata(again, manifest.model, manifest.keras.contract, manifest.labels) == again
        golden = read_golden(pipeline.models / name)
        assert tflite_with_golden_set(again, lambda digest: golden.data) == data, name
        other = tflite_with_metadata(data, manifest.model, manifest.keras.contract, [f"digit {d}" for d in range(10)])
        assert read_embedded_labels(other) == [f"digit {d}" for d in range(10)]
    assert not [m for m in sys.modules if m.startswith("tensorflow_lite_support")]


def read_embedded_labels(data: bytes) -> list:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("labels.txt").decode().splitlines()
