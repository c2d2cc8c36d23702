"""The C engine (convert/c_engine): generated from int8 TFLite, compiled with this machine's C
compiler and called through ctypes, its outputs equal TFLite Micro's interpreter byte for
byte; cross-compiled for Cortex-M4F and Cortex-M3 and run on QEMU, they equal the host's.
The slow tier's zoo (tests/test_c_engine_zoo.py) does the same on trained MobileNetV2,
ResNet and SeparableConv models, on 100 images and more."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import engine_models
from conftest import ROOT, run_cli
from runtime.store.files import sha256_file
from test_runtime import BLOCK_TENSORFLOW

RANDOM_INPUTS = 60
EMULATED_INPUTS = 4
"""A handful on each emulated core here; the slow tier runs 100 and more."""


@pytest.fixture(scope="module")
def coverage_models() -> dict:
    """per-channel / per-tensor -> the coverage model's int8 batch-1 .tflite bytes."""
    model = engine_models.coverage()
    return {"per-channel": engine_models.int8_bytes(model, True), "per-tensor": engine_models.int8_bytes(model, False)}


@pytest.fixture(scope="module")
def micro_run(micro_models):
    """The seed MLP through `python -m convert micro --npu ethos-u55-128`: (models folder, its CLI result)."""
    return micro_models


@pytest.fixture(scope="module")
def micro_mlp(micro_run) -> bytes:
    """The seed MLP's batch-1 int8 .tflite, as `convert micro` wrote it."""
    return (micro_run[0] / "mnist_mlp_int8_micro.tflite").read_bytes()


def random_inputs(shape: tuple, count: int, seed: int = 1) -> np.ndarray:
    """Random int8 inputs, each of its own brightness and contrast, plus the extremes (all
    -128, all 127, all 0)."""
    rng = np.random.default_rng(seed)
    extremes = np.stack([np.full(shape, v, np.int8) for v in (-128, 127, 0)])
    level = rng.uniform(-128, 127, (count,) + (1,) * len(shape))
    contrast = rng.uniform(0, 128, (count,) + (1,) * len(shape))
    noise = level + contrast * rng.uniform(-1, 1, (count, *shape))
    return np.concatenate([extremes, np.clip(np.round(noise), -128, 127).astype(np.int8)])


def reference_inputs(engine, images: np.ndarray) -> np.ndarray:
    """The reference images (uint8 pixels) as the int8 input the model takes (pixel / 255)."""
    q = np.round(images.astype(np.float64) / 255.0 / engine.input.scale) + engine.input.zero_point
    return np.clip(q, -128, 127).astype(np.int8).reshape(len(images), *engine.input.shape[1:])


@pytest.mark.parametrize("variant", ["per-channel", "per-tensor"])
def test_every_op_equals_tflite_micro_byte_for_byte(coverage_models, variant, tmp_path):
    """Every op's output tensor, on every input, against TFLite Micro's interpreter keeping
    all its tensors; and the final output through the plain engine."""
    from convert.c_engine import generate
    from runtime.backends.c_engine import EngineLibrary

    data = coverage_models[variant]
    engine = generate(data, "coverage")
    assert set(engine.ops) == {"CONV_2D", "DEPTHWISE_CONV_2D", "HARD_SWISH", "PAD", "AVERAGE_POOL_2D", "MAX_POOL_2D",
                               "MEAN", "FULLY_CONNECTED", "LOGISTIC", "MUL", "CONCATENATION", "QUANTIZE", "ADD", "SUB",
                               "SOFTMAX"}
    x = random_inputs(engine.input.shape[1:], RANDOM_INPUTS)
    ours = engine_models.engine_op_outputs(engine, x, tmp_path)
    theirs = engine_models.tflm_op_outputs(data, x)
    differing = [(i, op) for i in range(len(x)) for op in theirs[i] if ours[i].get(op) != theirs[i][op]]
    assert not differing, f"{len(differing)} op outputs differ, first (input, op): {differing[0]}"
    for op in theirs[0]:  # no op is saturated into a constant by these inputs
        assert len({bytes(t[op]) for t in theirs}) > 1, op
    final = EngineLibrary(engine.source, engine.header, "coverage").run(x)
    assert np.array_equal(final, engine_models.tflm_outputs(data, x))


def test_seed_mlp_equals_tflite_micro_on_every_reference_image(micro_mlp, reference):
    from convert.c_engine import generate
    from runtime.backends.c_engine import EngineLibrary

    engine = generate(micro_mlp, "mnist_mlp_int8", "mnist_mlp_int8_micro.tflite")
    assert engine.ops == ("FULLY_CONNECTED", "RESHAPE", "SOFTMAX")
    x = reference_inputs(engine, reference.images)
    ours = EngineLibrary(engine.source, engine.header, engine.name).run(x)
    theirs = engine_models.tflm_outputs(micro_mlp, x)
    assert len(x) == 1000 and np.array_equal(ours, theirs)
    assert (ours.argmax(1) == reference.labels).mean() > 0.85  # the outputs are the model's answers


@pytest.mark.parametrize("core", ["cortex-m4f", "cortex-m3"])
def test_emulated_cortex_m_gives_the_hosts_bytes(micro_mlp, coverage_models, reference, core, tmp_path):
    """Cross-compiled with arm-none-eabi-gcc and picolibc, run on QEMU: a handful of inputs
    of each model; flash, RAM, stack and instructions are measured and printed."""
    from convert.c_engine import cortex_m, generate
    from runtime.backends.c_engine import EngineLibrary

    for name, data, inputs in (
            ("mnist_mlp_int8", micro_mlp, lambda e: reference_inputs(e, reference.images[:EMULATED_INPUTS])),
            ("coverage", coverage_models["per-channel"], lambda e: random_inputs(e.input.shape[1:], EMULATED_INPUTS))):
        engine = generate(data, name)
        x = inputs(engine)
        built = cortex_m.build(engine, tmp_path / name, core)
        run = cortex_m.run(built, x)
        assert np.array_equal(run.outputs, EngineLibrary(engine.source, engine.header, name).run(x))
        assert built.engine.bss == engine.arena_bytes  # the plan is all the static RAM it takes
        assert 0 < run.stack_bytes < 1024 and all(n > 1000 for n in run.instructions)
        print(f"{name} on {core}: flash {built.engine.flash} B, RAM {engine.arena_bytes} B + stack {run.stack_bytes} B, "
              f"{int(np.median(run.instructions)):,} instructions per inference")


def test_generated_c_is_plain_and_its_header_fixed(coverage_models, tmp_path):
    """No malloc, no float, no interpreter; the header declares the fixed interface and
    compiles as C++ too."""
    from convert.c_engine import generate

    engine = generate(coverage_models["per-channel"], "shapes_net")
    code = re.sub(r"/\*.*?\*/", "", engine.source, flags=re.S)
    for forbidden in ("malloc", "free(", "float", "double"):
        assert forbidden not in code, forbidden
    assert "int shapes_net_predict(const int8_t *input, int8_t *output);" in engine.header
    for constant, value in (("INPUT_BYTES", 16 * 16 * 3), ("OUTPUT_BYTES", 5), ("ARENA_BYTES", engine.arena_bytes)):
        assert re.search(rf"^#define shapes_net_{constant} {value}$", engine.header, re.M), constant
    (tmp_path / "shapes_net.h").write_text(engine.header)
    (tmp_path / "use.cc").write_text('#include "shapes_net.h"\nint main() { int8_t x[shapes_net_INPUT_BYTES] = {}; '
                                     "int8_t y[shapes_net_OUTPUT_BYTES]; return shapes_net_predict(x, y) != 0; }\n")
    compiled = subprocess.run(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "use.cc"],
                              cwd=tmp_path, capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr


def test_an_input_written_in_place_gives_the_same_outputs(coverage_models, tmp_path):
    """NAME_input() is where predict keeps its input: filling it and passing it saves the
    caller a buffer (and a copy), and the outputs are the same."""
    import ctypes

    from convert.c_engine import generate
    from runtime.backends.c_engine import EngineLibrary, compile_shared

    engine = generate(coverage_models["per-channel"], "in_place")
    (tmp_path / "in_place.h").write_text(engine.header)
    (tmp_path / "in_place.c").write_text(engine.source)
    library = ctypes.CDLL(str(compile_shared(tmp_path / "in_place.c", tmp_path / "in_place.so")))
    library.in_place_input.restype = ctypes.c_void_p
    library.in_place_predict.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    x = random_inputs(engine.input.shape[1:], 8)
    expected = EngineLibrary(engine.source, engine.header, "in_place").run(x)
    out = np.empty(engine.output.bytes, np.int8)
    for image, want in zip(x, expected):
        slot = library.in_place_input()
        ctypes.memmove(slot, image.ctypes.data, image.nbytes)
        assert library.in_place_predict(slot, out.ctypes.data) == 0
        assert np.array_equal(out, want)


def test_memory_plan_shares_bytes_between_tensors_that_do_not_live_together(coverage_models):
    from convert.c_engine.graph import read_graph
    from convert.c_engine.ops import lower
    from convert.c_engine.planner import make_plan

    graph = read_graph(coverage_models["per-channel"])
    steps = lower(graph)
    plan = make_plan(graph, steps)
    arena = [b for b in plan.buffers if b.storage == "arena"]
    assert plan.arena_bytes < sum(b.size for b in arena)  # some bytes are reused
    for i, a in enumerate(arena):
        assert a.offset % 4 == 0 and a.offset + a.size <= plan.arena_bytes
        for b in arena[i + 1:]:
            live_together = not (a.last < b.first or b.last < a.first)
            apart = a.offset + a.size <= b.offset or b.offset + b.size <= a.offset
            assert apart or not live_together, (a, b)


def test_an_op_the_engine_lacks_is_refused_by_name_and_keras_layer():
    from convert.c_engine import EngineRefusal, generate

    data = engine_models.int8_bytes(engine_models.tanh_mlp())
    with pytest.raises(EngineRefusal, match=r"^the C engine does not support TANH \(operator \d+, Keras layer "
                                            r"'tanh_mlp_1/tanh_dense_1'\): no kernel for this op in the C engine"):
        generate(data, "tanh_mlp")


def test_int16_activations_are_refused_naming_the_op():
    from convert.c_engine import EngineRefusal, generate

    data = engine_models.int16_activation_bytes(engine_models.tanh_mlp())
    with pytest.raises(EngineRefusal, match=r"^the C engine does not support FULLY_CONNECTED \(operator \d+, Keras layer "
                                            r"'tanh_mlp_1/tanh_dense_1'\): int16 activations \(input "):
        generate(data, "int16_net")


@pytest.mark.parametrize("name", ["", "1model", "model-1", "int", "mod\u00e8le", "a" * 49, "x;", None])
def test_a_name_that_is_not_a_c_identifier_is_refused(coverage_models, name):
    from convert.c_engine import generate

    with pytest.raises(ValueError, match=r"^name: got .*, expected a C identifier"):
        generate(coverage_models["per-channel"], name)


def test_engine_name_makes_identifiers_from_any_artifact_name():
    from convert.c_engine import engine_name

    assert engine_name("mnist_mlp_int8") == "mnist_mlp_int8"
    assert engine_name("3 modèles-v2") == "model_3_mod_les_v2"


@pytest.mark.parametrize("damage", ["truncated", "garbage", "tiny", "not tflite"])
def test_a_damaged_file_gives_one_clear_error(coverage_models, damage):
    from convert.c_engine import EngineError, generate

    data = coverage_models["per-channel"]
    damaged = {"truncated": data[: len(data) // 3], "garbage": data[:8] + bytes(range(256)) * 40,
               "tiny": data[:500], "not tflite": b"PK\x03\x04" + bytes(600)}[damage]
    with pytest.raises(EngineError):
        generate(damaged, "damaged")


def test_names_from_the_file_cannot_break_out_of_a_comment(coverage_models):
    """Tensor names reach the generated comments; a hostile one (comment end, line splice,
    trigraph) is reduced to harmless characters and the C still compiles with -Werror."""
    from ai_edge_litert import schema_py_generated as schema
    import flatbuffers

    from convert.c_engine import generate
    from runtime.backends.c_engine import EngineLibrary

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(coverage_models["per-channel"], 0))
    for tensor in model.subgraphs[0].tensors:
        tensor.name = b"evil*/ int x = 1 /* \\\n ??/ \xc3\xa9/Conv2D"
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), b"TFL3")
    engine = generate(bytes(builder.Output()), "hostile")
    assert "Keras layer 'evil_/ int x = 1 /_ __ __/ _'" in engine.source and "*/ int x" not in engine.source
    EngineLibrary(engine.source, engine.header, "hostile")  # compiles with -Wall -Wextra -Werror -pedantic


def test_generation_and_the_host_engine_need_no_tensorflow(coverage_models, tmp_path):
    path = tmp_path / "coverage.tflite"
    path.write_bytes(coverage_models["per-channel"])
    script = BLOCK_TENSORFLOW + textwrap.dedent(f"""
        import numpy as np
        from convert.c_engine import generate
        from runtime.backends.c_engine import EngineLibrary
        engine = generate(open({str(path)!r}, "rb").read(), "coverage")
        out = EngineLibrary(engine.source, engine.header, "coverage").run(np.zeros((2, 16, 16, 3), np.int8))
        print(out.shape, sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
        """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "(2, 5) []"


ENGINE_FILES = {"source": "micro/mnist_mlp_int8.c", "header": "micro/mnist_mlp_int8.h"}


def test_convert_micro_writes_the_engine_beside_the_tflm_files(micro_run, reference):
    """As a user runs it: the engine's files, its lines in the summary and its manifest entry,
    judged against Keras like every artifact and checked against TFLM on every image."""
    models, result = micro_run
    out = result.stdout
    assert re.search(r"^  C engine: micro/mnist_mlp_int8\.c and \.h \(FULLY_CONNECTED, RESHAPE, SOFTMAX\): its int8 "
                     r"outputs equal TFLite Micro's on 1000 of 1000 images \(compiled here with \S+ [\d.]+\)$", out, re.M)
    assert re.search(r"^  C engine RAM: [\d,]+ bytes = plan [\d,]+ \(the input tensor included\) \+ stack [\d,]+ \+ "
                     r"output 10; TFLite Micro's arena: [\d,]+ bytes measured", out, re.M)
    assert re.search(r"^  C engine on an emulated Cortex-M4 with FPU \(mps2-an386\): flash [\d,]+ bytes .* "
                     r"[\d,]+ instructions per inference", out, re.M)
    assert re.search(r"^micro/mnist_mlp_int8\.c +int8 +200 images, per-channel .* (verified|unproven)$", out, re.M)
    manifest = json.loads((models / "manifest.json").read_text())
    entry = next(a for a in manifest["artifacts"] if a["format"] == "c")
    tflm = next(a for a in manifest["artifacts"] if a["format"] == "tflite-micro")
    assert entry["path"] == ENGINE_FILES["source"] and {k: entry[k] for k in ENGINE_FILES} == ENGINE_FILES
    assert entry["model"] == tflm["path"] == "mnist_mlp_int8_micro.tflite" and entry["model_sha256"] == tflm["sha256"]
    assert entry["sha256"] == sha256_file(models / entry["source"])
    assert entry["identical_to_tflite_micro"] == {"images": 1000, "identical": 1000}
    assert entry["metrics"]["verdict"]["passed"] and entry["metrics"]["reference_images"] == 1000
    ram, tflm_arena = entry["ram"], tflm["arena"]["measured_bytes"]
    assert ram["tflite_micro_arena_bytes"] == tflm_arena
    assert ram["bytes"] == ram["plan_bytes"] + ram["stack_bytes"] + ram["output_bytes"] <= tflm_arena
    assert ram["plan_bytes"] >= ram["input_bytes_in_plan"] == 784
    assert 0 < entry["flash"]["bytes"] < tflm["flash_bytes"] and entry["instructions_per_inference"] > 0
    header = (models / ENGINE_FILES["header"]).read_text()
    assert "int mnist_mlp_int8_predict(const int8_t *input, int8_t *output);" in header
    assert "The model's input: value = pixel / 255 (light ink on dark background)." in header
    assert f"#define mnist_mlp_int8_ARENA_BYTES {ram['plan_bytes']}" in header

    assert entry["header_sha256"] == sha256_file(models / ENGINE_FILES["header"])
    assert entry["metrics"]["verified_with"].startswith("c gcc ")


@pytest.mark.slow
def test_an_op_the_engine_lacks_leaves_the_tflm_files_written(micro_run, tmp_path):
    """A LeakyReLU (TFLM runs LEAKY_RELU, the engine does not) in place of the first Dense's
    ReLU: the engine is refused in one line naming the op and the layer, the TFLM files are
    written, and the engine an earlier run wrote for the previous model is removed."""
    import keras

    models = tmp_path / "models"
    shutil.copytree(micro_run[0], models)
    trained = keras.models.load_model(models / "mnist_mlp.keras")
    dense = [layer for layer in trained.layers if isinstance(layer, keras.layers.Dense)]
    inputs = keras.Input(trained.inputs[0].shape[1:], name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    x = keras.layers.Dense(dense[0].units, name="dense")(x)
    x = keras.layers.LeakyReLU(negative_slope=1e-3, name="leaky")(x)  # all but ReLU: the trained weights still work
    for i, layer in enumerate(dense[1:], 1):
        x = keras.layers.Dense(layer.units, activation=layer.activation, name=f"dense_{i}")(x)
    model = keras.Model(inputs, x)
    for source, target in zip(dense, [l for l in model.layers if isinstance(l, keras.layers.Dense)]):
        target.set_weights(source.get_weights())
    model.save(models / "mnist_mlp.keras")
    manifest = json.loads((models / "manifest.json").read_text())
    next(a for a in manifest["artifacts"] if a["format"] == "keras")["sha256"] = sha256_file(models / "mnist_mlp.keras")
    (models / "manifest.json").write_text(json.dumps(manifest))

    result = run_cli("convert", "micro", "--models", models)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("  C engine")]
    assert len(lines) == 1 and re.fullmatch(
        r"  C engine: not written: the C engine does not support LEAKY_RELU \(operator \d+, Keras layer "
        r"'[\w/]*leaky[\w/]*'\): no kernel for this op in the C engine \(.*\) \(the TFLite Micro files are\)", lines[0]), lines
    assert "Removed the C engine an earlier run wrote (micro/mnist_mlp_int8.c, micro/mnist_mlp_int8.h)" in result.stdout
    assert all(not (models / f).exists() for f in ENGINE_FILES.values())
    after = json.loads((models / "manifest.json").read_text())
    assert [a["format"] for a in after["artifacts"]].count("c") == 0
    assert any(r["path"] == ENGINE_FILES["source"] and "LEAKY_RELU" in r["reason"] for r in after["rejected"])
    tflm = next(a for a in after["artifacts"] if a["format"] == "tflite-micro")
    assert "LEAKY_RELU" in tflm["ops"] and tflm["sha256"] == sha256_file(models / "mnist_mlp_int8_micro.tflite")
    assert all((models / f"micro/mnist_mlp_int8{suffix}").is_file() for suffix in ("_model_data.cc", "_model_data.h", "_ops.h"))


def test_convert_micro_npu_reports_velas_estimate(micro_run):
    """--npu: Vela's compilation for an Ethos-U55-128 beside the TFLM files, its estimate in
    the summary and in the TFLM artifact's entry, said to be an estimate."""
    models, result = micro_run
    npu_file = "micro/mnist_mlp_int8_vela_ethos_u55_128.tflite"
    assert re.search(r"^  NPU Ethos-U55-128 \(Vela [\d.]+, \w+ at [\d.]+ MHz\): (\d+) of \1 ops on the NPU; SRAM [\d,]+ bytes, "
                     r"flash [\d,]+ bytes; [\d,]+ cycles, [\d.]+ ms per inference \(Vela's estimate: nothing here runs "
                     rf"the NPU's output, {re.escape(npu_file)}\)$", result.stdout, re.M), result.stdout[-3000:]
    tflm = next(a for a in json.loads((models / "manifest.json").read_text())["artifacts"] if a["format"] == "tflite-micro")
    npu = tflm["npu"]
    assert npu["npu"] == "ethos-u55-128" and npu["file"] == npu_file and npu["cpu_ops"] == []
    assert npu["sram_bytes"] > 0 and npu["flash_bytes"] > 0 and npu["cycles"] > 0 and "not measured" in npu["estimated_by"]
    data = (models / npu_file).read_bytes()
    assert data[4:8] == b"TFL3" and b"ethos-u" in data  # Vela's custom op holds the NPU's command stream
