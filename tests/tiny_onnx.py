"""A tiny float32 ONNX classifier of RGB images and its models folder, as `convert` would
list it: the web page's tests run contracts other than MNIST's on it without training."""

from __future__ import annotations

import json

import numpy as np

from runtime.contract import InputContract
from runtime.store.files import sha256_file
from runtime.store.manifest import Artifact, FileRecord, Manifest, TensorRecord, write_manifest


def tiny_rgb_models(folder, contract: InputContract, labels: list, ir_version: int = 8) -> tuple:
    """A models folder holding one float32 ONNX classifier of 32x32 RGB images (a linear layer
    and a softmax, random weights) with its manifest, as `convert` would list it; and a batch
    of images for it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(11)
    height, width, channels = contract.image_shape
    weights = rng.normal(0, 0.05, (height * width * channels, len(labels))).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["image"], ["flat"], axis=1), helper.make_node("MatMul", ["flat", "w"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probs"], axis=1)],
        "tiny_rgb",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", height, width, channels])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", len(labels)])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=ir_version)
    helper.set_model_props(model, {"model": "tiny_rgb", "labels": json.dumps(labels), "input_contract": json.dumps(contract.to_json())})
    folder.mkdir()
    path = folder / "tiny_rgb_float32.onnx"
    onnx.save(model, path)
    images = rng.integers(0, 256, (64, height, width, channels), dtype=np.uint8)
    np.savez(folder / "reference.npz", images=images, probs=np.zeros((64, len(labels)), np.float32))
    record = FileRecord("reference.npz", sha256_file(folder / "reference.npz"), 64)
    artifact = Artifact(path=path.name, format="onnx", precision="float32", sha256=sha256_file(path), bytes=path.stat().st_size,
                        contract=contract, labels=labels, input_tensor=TensorRecord("image", "float32", [-1, height, width, channels]),
                        output_tensor=TensorRecord("probs", "float32", [-1, len(labels)]))
    write_manifest(folder, Manifest("tiny_rgb", labels, {"name": "random"}, record, record, [artifact]))
    return path, images
