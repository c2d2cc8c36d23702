"""The C engine on trained models of the architectures people ship (issue 28's acceptance):
the seed MLP, the CNN of `train --model cnn`, and tests/zoo.py's MobileNetV2-0.35 at 96x96,
ResNet with BatchNorm and SeparableConv net, each through `python -m convert micro` as a
user runs it. On every model: the engine's outputs equal TFLite Micro's on every reference
image (host), on 100 images and more on an emulated Cortex-M4F and Cortex-M3 they equal the
host's, and its RAM (plan with the input tensor + stack + output) is at most TFLM's measured
arena. The
figures are printed (pytest -s) as the table docs/micro.md quotes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import engine_models
from conftest import run_cli
from zoo import CHANNELS, INPUT_SCALE, train_zoo_model, write_npz

pytestmark = pytest.mark.slow

ZOO = {"mobilenet_v2_96": ("mobilenet_v2", 96), "resnet": ("resnet", 32), "separable": ("separable", 32)}
"""Test name -> (tests/zoo.py architecture, picture size)."""
DATA_PER_CLASS = 100
"""Pictures per class for --data, 300 in all: 30 calibrate int8, 270 are reference images."""
EMULATED_IMAGES = 100
CORES = ("cortex-m4f", "cortex-m3")


@pytest.fixture(scope="module")
def converted(pipeline, tmp_path_factory) -> dict:
    """name -> the models folder `python -m convert micro` wrote (engine included)."""
    folders = {}
    mlp = pipeline.copy(tmp_path_factory.mktemp("mlp") / "models")
    folders["mlp"] = mlp
    cnn = tmp_path_factory.mktemp("cnn") / "models"
    trained = run_cli("train", "--model", "cnn", "--dataset", "mnist-5k", "--models", cnn)
    assert trained.returncode == 0, trained.stderr[-2000:]
    folders["cnn"] = cnn
    zoo = tmp_path_factory.mktemp("zoo")
    for name, (architecture, size) in ZOO.items():
        model = train_zoo_model(architecture, zoo, size)
        data = write_npz(zoo / f"{name}.npz", CHANNELS[architecture], DATA_PER_CLASS, seed=7, size=size)
        folders[name] = zoo / name
        done = run_cli("convert", "micro", "--keras", model.path, "--data", data, "--models", folders[name],
                       "--input-scale", f"{INPUT_SCALE[architecture]:g}", timeout=1800)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in ("mlp", "cnn"):
        done = run_cli("convert", "micro", "--models", folders[name], timeout=1800)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folders


def entries(folder) -> tuple:
    """(the C engine's manifest entry, the TFLM artifact's)."""
    artifacts = json.loads((folder / "manifest.json").read_text())["artifacts"]
    return next(a for a in artifacts if a["format"] == "c"), next(a for a in artifacts if a["format"] == "tflite-micro")


MODELS = ["mlp", "cnn", *ZOO]


@pytest.mark.parametrize("name", MODELS)
def test_engine_equals_tflm_on_every_reference_image_within_its_arena(converted, name):
    engine, tflm = entries(converted[name])
    images = engine["metrics"]["reference_images"]
    assert images >= 100 and engine["identical_to_tflite_micro"] == {"images": images, "identical": images}
    assert engine["metrics"]["verdict"]["passed"]
    ram = engine["ram"]
    assert ram["stack_bytes"] > 0 and ram["bytes"] <= tflm["arena"]["measured_bytes"], ram
    print(f"{name}: RAM {ram['bytes']:,} B (plan {ram['plan_bytes']:,} with the input + stack {ram['stack_bytes']} + "
          f"output {ram['output_bytes']}) vs TFLM's arena {tflm['arena']['measured_bytes']:,} B; "
          f"flash {engine['flash']['bytes']:,} B vs the TFLM model {tflm['flash_bytes']:,} B")


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", MODELS)
def test_emulated_core_gives_the_hosts_bytes_on_100_images(converted, name, core, tmp_path):
    """The engine as written (micro/<name>.c, .h), cross-compiled and run on QEMU, on the
    first 100 reference images: TFLite Micro's bytes, and the host's."""
    import runtime
    from convert.c_engine import cortex_m, generate
    from runtime.backends.c_engine import EngineLibrary
    from runtime.store.bundles import load_reference

    folder = converted[name]
    entry, tflm = entries(folder)
    data = (folder / tflm["path"]).read_bytes()
    engine = generate(data, entry["name"], tflm["path"])
    assert engine.source == (folder / entry["source"]).read_text()
    model = runtime.load(folder / tflm["path"], backend="tflite-micro")
    x = model.pixels_to_input(model.contract.check_shape(load_reference(folder).images[:EMULATED_IMAGES]))
    assert len(x) == EMULATED_IMAGES
    host = EngineLibrary(engine.source, engine.header, engine.name).run(x)
    assert np.array_equal(host, engine_models.tflm_outputs(data, x))
    built = cortex_m.build(engine, tmp_path, core)
    run = cortex_m.run(built, x)
    assert np.array_equal(run.outputs, host)
    assert built.engine.bss == engine.arena_bytes and run.stack_bytes < 1024
    print(f"{name} on {built.core.description}: {len(x)} images identical; flash {built.engine.flash:,} B, "
          f"plan {engine.arena_bytes:,} B + stack {run.stack_bytes} B, {int(np.median(run.instructions)):,} "
          "instructions per inference")
