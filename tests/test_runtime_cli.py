"""`python -m runtime predict|parity|info` as a user runs them."""

import json
import re
import threading

import numpy as np
import pytest
from PIL import Image

import runtime
from runtime.__main__ import DEFAULT_MIN_CONFIDENCE
from runtime.preprocess.digits import normalize_digit
from runtime.preprocess.images import ImageError, load_image

from conftest import parity_exit, run_cli
from photos import digit_photo, naive_resize

CLEAR_CONFIDENCE = 0.9
PHOTO_MIN_ACCURACY = 0.9
NAIVE_MAX_ACCURACY = 0.5


def our_lines(stderr: str) -> list:
    """stderr without LiteRT's own 'INFO: Created TensorFlow Lite XNNPACK delegate' line."""
    return [line for line in stderr.strip().splitlines() if not line.startswith("INFO: ")]


@pytest.fixture(scope="module")
def clear_digits(pipeline, reference):
    """Test images the float model gets right with high confidence: the clear cases."""
    probs = runtime.load(pipeline.models / "mnist_mlp_float32.tflite").predict(reference.images)
    clear = np.flatnonzero((probs.max(1) >= CLEAR_CONFIDENCE) & (probs.argmax(1) == reference.labels))
    return clear[:60]


def test_photos_of_digits_are_normalised_like_mnist(pipeline, reference, clear_digits, tmp_path):
    model = runtime.load(pipeline.models / "mnist_mlp_int8.tflite")
    rng = np.random.default_rng(0)
    right = naive_right = 0
    for i in clear_digits:
        photo = digit_photo(reference.images[i], rng)
        path = tmp_path / f"{i}.png" if i % 2 else tmp_path / f"{i}.jpg"
        Image.fromarray(photo).save(path, quality=90) if path.suffix == ".jpg" else Image.fromarray(photo).save(path)
        right += model.predict(load_image(path))[0].argmax() == reference.labels[i]
        naive_right += model.predict(naive_resize(photo))[0].argmax() == reference.labels[i]
    assert len(clear_digits) >= 50
    assert right >= PHOTO_MIN_ACCURACY * len(clear_digits), (right, len(clear_digits))
    assert naive_right <= NAIVE_MAX_ACCURACY * len(clear_digits), naive_right


def test_mnist_image_files_are_used_as_they_are(reference, tmp_path):
    Image.fromarray(reference.images[0]).save(tmp_path / "mnist.png")
    assert np.array_equal(load_image(tmp_path / "mnist.png"), reference.images[0])


def test_normalised_digit_is_centred_in_20x20(reference):
    rng = np.random.default_rng(1)
    digit = normalize_digit(digit_photo(reference.images[5], rng).astype(np.float32))
    rows, cols = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 20
    ys, xs = np.indices(digit.shape)
    cy, cx = (ys * digit).sum() / digit.sum(), (xs * digit).sum() / digit.sum()
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1
    assert digit[0].max() == 0 and digit[:, 0].max() == 0  # light ink on a dark background


@pytest.mark.parametrize("value", [0, 255])
def test_blank_images_hold_no_digit(tmp_path, value):
    Image.fromarray(np.full((100, 80), value, np.uint8)).save(tmp_path / "blank.png")
    with pytest.raises(ImageError, match="no digit found"):
        load_image(tmp_path / "blank.png")


def test_predict_cli_on_files_and_folders(pipeline, reference, clear_digits, tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "photos"
    folder.mkdir()
    expected = {}
    for i in clear_digits[:5]:
        Image.fromarray(digit_photo(reference.images[i], rng)).save(folder / f"digit{i}.png")
        expected[str(folder / f"digit{i}.png")] = str(reference.labels[i])
    (folder / "notes.png").write_text("this is not an image")
    result = run_cli("runtime", "predict", folder, "--model", pipeline.models / "mnist_mlp_int8.tflite")
    assert result.returncode == 1  # one file failed
    assert our_lines(result.stderr)[1:] == [
        f"error: {folder / 'notes.png'}: not a readable image (cannot identify image file {str(folder / 'notes.png')!r})"
    ]
    got = dict(re.fullmatch(r"(.+): (\d) \(\d+\.\d%\)", line).groups() for line in result.stdout.splitlines())
    assert got == expected

    files = sorted(expected)
    result = run_cli("runtime", "predict", *files, "--model", pipeline.models / "mnist_mlp_float32.onnx", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["backend"] == "onnxruntime"
    assert {r["file"]: r["label"] for r in data["results"]} == expected
    onnx_model = runtime.load(pipeline.models / "mnist_mlp_float32.onnx")
    for r in data["results"]:  # the confidence printed is the model's own top probability for that file
        assert r["confidence"] == pytest.approx(float(onnx_model.predict(load_image(r["file"])).max()), abs=1e-6)


def test_parity_cli_passes_and_prints_the_table(pipeline):
    result = run_cli("runtime", "parity", "--models", pipeline.models)
    names = ("mnist_mlp_float32.tflite", "mnist_mlp_int8.tflite", "mnist_mlp_float32.onnx", "mnist_mlp_int8.onnx")
    statuses = {name: pipeline.artifact(name)["metrics"]["verdict"]["status"] for name in names}
    assert result.returncode == parity_exit(statuses.values()), result.stdout + result.stderr
    assert re.search(r"^Platform: Linux x86_64, Python 3\.\d+\.\d+, numpy \S+, litert \S+, onnxruntime \S+$", result.stdout, re.M)
    for name, status in statuses.items():  # the device repeats each conversion's outcome
        assert re.search(rf"^{re.escape(name)} .* {status}$", result.stdout, re.M), result.stdout
    verified = sum(status == "verified" for status in statuses.values())
    if verified == 4:
        assert "PASS: 4 of 4 artifacts verified" in result.stdout
    else:
        assert f"UNPROVEN: {verified} of 4 artifacts verified, {4 - verified} unproven (" in result.stdout


def test_parity_cli_says_unproven_with_an_exit_status_of_its_own(pipeline):
    """A budget between the int8 file's two 95% bounds is one its images neither prove nor
    refute: the file is unproven, the line under the table says so, and the exit status is 3."""
    verdict = pipeline.artifact("mnist_mlp_int8.tflite")["metrics"]["verdict"]
    low, high = max(0.0, -verdict["upper"]), -verdict["lower"]  # unproven for budgets in [low, high)
    budget = 100 * (low + high) / 2
    result = run_cli("runtime", "parity", "--models", pipeline.models, "--backend", "litert", "--max-drop", f"{budget:.6f}")
    assert result.returncode == 3, result.stdout + result.stderr
    assert re.search(r"^mnist_mlp_int8\.tflite .* unproven$", result.stdout, re.M), result.stdout
    assert re.search(r"^mnist_mlp_float32\.tflite .* verified$", result.stdout, re.M), result.stdout
    assert re.search(r"^verdict mnist_mlp_int8\.tflite: unproven: .*these images prove --max-drop [\d.]+ pp; ",
                     result.stdout, re.M), result.stdout
    assert "UNPROVEN: 1 of 2 artifacts verified, 1 unproven (mnist_mlp_int8.tflite), none refused" in result.stdout
    data = json.loads(run_cli("runtime", "parity", "--models", pipeline.models, "--backend", "litert", "--max-drop",
                              f"{budget:.6f}", "--json").stdout)
    assert data["status"] == "unproven" and data["passed"] is True


def test_parity_cli_json(pipeline):
    result = run_cli("runtime", "parity", "--models", pipeline.models, "--json")
    data = json.loads(result.stdout)
    statuses = [a["metrics"]["verdict"]["status"] for a in pipeline.manifest["artifacts"][1:]]
    assert result.returncode == parity_exit(statuses) and data["passed"] is True
    assert data["status"] == ("unproven" if "unproven" in statuses else "verified")
    assert data["reference"]["images"] == 1000 and data["platform"]["machine"]
    rows = {a["artifact"]: a for a in data["artifacts"]}
    assert rows["mnist_mlp_float32.onnx"]["max_abs_dp"] <= 1e-5
    int8 = pipeline.artifact("mnist_mlp_int8.tflite")["metrics"]  # the device repeats the conversion's check exactly
    assert rows["mnist_mlp_int8.tflite"]["agreement"] == int8["agreement"]
    assert rows["mnist_mlp_int8.tflite"]["status"] == int8["verdict"]["status"] in ("verified", "unproven")
    assert rows["mnist_mlp_int8.tflite"]["backend"].startswith("litert ")


def test_parity_cli_thresholds_can_fail_it(pipeline):
    result = run_cli("runtime", "parity", "--models", pipeline.models, "--float-max-dp", "0")
    assert result.returncode == 1
    assert re.search(r"^FAIL mnist_mlp_float32\.tflite: max \|Δp\| \d\.\d\de-\d\d > 0$", result.stdout, re.M)
    assert re.search(r"^mnist_mlp_float32\.tflite .* REFUSED$", result.stdout, re.M)
    assert re.search(r"^FAIL: 2 of 4 artifacts refused \(mnist_mlp_float32\.tflite, mnist_mlp_float32\.onnx\); ",
                     result.stdout, re.M), result.stdout


def test_parity_cli_backend_choice_skips_other_formats(pipeline):
    result = run_cli("runtime", "parity", "--models", pipeline.models, "--backend", "onnxruntime", "--json")
    data = json.loads(result.stdout)
    assert result.returncode == {"verified": 0, "unproven": 3}[data["status"]]
    assert [a["artifact"] for a in data["artifacts"]] == ["mnist_mlp_float32.onnx", "mnist_mlp_int8.onnx"]
    assert {s["artifact"] for s in data["skipped"]} == {"mnist_mlp_float32.tflite", "mnist_mlp_int8.tflite"}


def test_parity_cli_names_a_changed_file(pipeline, tmp_path):
    models = pipeline.copy(tmp_path / "models")
    with open(models / "mnist_mlp_int8.tflite", "ab") as f:
        f.write(b"\0")
    result = run_cli("runtime", "parity", "--models", models)
    assert result.returncode == 1
    assert re.search(r"FAIL mnist_mlp_int8\.tflite: .*mnist_mlp_int8\.tflite: sha256 \w+… does not match the manifest", result.stdout)
    assert "FAIL: 1 of 4 artifacts refused (mnist_mlp_int8.tflite); " in result.stdout


def test_parity_cli_without_models_is_a_one_line_error(tmp_path):
    result = run_cli("runtime", "parity", "--models", tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'manifest.json'} not found: run `python -m train --models {tmp_path}` (then `python -m convert all --models {tmp_path}`) first, or `python -m convert all --keras MODEL.keras --data DATA --models {tmp_path}` for your own model"


def test_info_cli(pipeline):
    result = run_cli("runtime", "info", pipeline.models / "mnist_mlp_int8.tflite")
    assert result.returncode == 0, result.stderr
    assert re.search(r"input .* int8\[-1, 28, 28\]  scale 0\.00392157, zero point -128", result.stdout)
    assert "runs on litert" in result.stdout and "sha256" in result.stdout and "verified" in result.stdout
    assert "the scaling is inside the model" not in result.stdout  # int8 input: the runtime quantizes
    data = json.loads(run_cli("runtime", "info", pipeline.models / "mnist_mlp_float32.onnx", "--json").stdout)
    assert data["input"]["dtype"] == "uint8" and data["output"]["shape"] == [-1, 10] and data["takes_pixels"]
    assert data["backend"].startswith("onnxruntime") and data["manifest"]["precision"] == "float32"
    text = run_cli("runtime", "info", pipeline.models / "mnist_mlp_float32.onnx").stdout
    assert "the scaling is inside the model: it takes the uint8 pixels as they are" in text


@pytest.mark.parametrize("command", ["predict", "parity", "info"])
def test_every_command_has_help_with_examples(command):
    result = run_cli("runtime", command, "--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and f"python -m runtime {command}" in result.stdout


@pytest.mark.parametrize("name", ["mnist_mlp_int8.tflite", "mnist_mlp_float32.onnx"])
def test_one_model_shared_by_threads(pipeline, reference, name):
    """Eight threads, 500 calls each with its own inputs and batch size, through one loaded model:
    every result equals the single-threaded one."""
    model = runtime.load(pipeline.models / name)
    batches = [reference.images[i * 37 : i * 37 + 1 + i] for i in range(8)]
    expected = [model.predict(b) for b in batches]
    mismatches, errors = [], []

    def work(k):
        try:
            for _ in range(500):
                if not np.array_equal(model.predict(batches[k]), expected[k]):
                    mismatches.append(k)
        except Exception as err:  # collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and mismatches == []


@pytest.fixture(scope="module")
def photo_folder(reference, clear_digits, tmp_path_factory):
    """Two folders holding photos of clear digits under the same names: {path: label}."""
    rng = np.random.default_rng(4)
    root = tmp_path_factory.mktemp("named")
    expected = {}
    for folder, digits in (("a", clear_digits[:3]), ("b", clear_digits[3:5])):
        (root / folder).mkdir()
        for k, i in enumerate(digits):
            path = root / folder / f"digit{k}.png"
            Image.fromarray(digit_photo(reference.images[i], rng)).save(path)
            expected[str(path)] = str(reference.labels[i])
    return root, expected


def test_predict_json_has_every_probability_and_the_unsure_flag(pipeline, photo_folder):
    root, expected = photo_folder
    result = run_cli("runtime", "predict", root / "a", root / "b", "--model", pipeline.models / "mnist_mlp_float32.onnx",
                     "--json", "--top", "3")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["min_confidence"] == DEFAULT_MIN_CONFIDENCE
    for r in data["results"]:
        probs = r["probabilities"]
        assert list(probs) == [str(d) for d in range(10)] and sum(probs.values()) == pytest.approx(1, abs=1e-5)
        assert r["label"] == expected[r["file"]] == max(probs, key=probs.get)
        assert r["confidence"] == probs[r["label"]] and r["low_confidence"] == (r["confidence"] < DEFAULT_MIN_CONFIDENCE)
        assert [t["label"] for t in r["top"]] == sorted(probs, key=probs.get, reverse=True)[:3]
    strict = json.loads(run_cli("runtime", "predict", root / "a", "--model", pipeline.models / "mnist_mlp_float32.onnx",
                                "--json", "--min-confidence", "1").stdout)
    assert [r["low_confidence"] for r in strict["results"]] == [True] * 3


def test_predict_text_shows_the_top_classes_and_marks_unsure_answers(pipeline, photo_folder):
    root, expected = photo_folder
    result = run_cli("runtime", "predict", root / "a", "--model", pipeline.models / "mnist_mlp_int8.tflite",
                     "--top", "2", "--min-confidence", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        match = re.fullmatch(r"(.+): (\d) \((\d+\.\d)%\), (\d) \((\d+\.\d)%\)  \[unsure: below 100%\]", line)
        assert match, line
        assert match[2] == expected[match[1]] and float(match[3]) >= float(match[5]) and match[2] != match[4]


def test_predict_saves_what_the_model_saw_without_overwriting(pipeline, photo_folder, tmp_path):
    root, expected = photo_folder
    out = tmp_path / "seen"
    result = run_cli("runtime", "predict", root / "a", root / "b", "--model", pipeline.models / "mnist_mlp_int8.tflite",
                     "--save-normalized", out, "--json")
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)["results"]
    written = [r["normalized"] for r in results]
    assert len(set(written)) == len(expected) == len(results)  # b/digit0.png did not replace a/digit0.png
    assert sorted(p.name for p in out.iterdir()) == ["digit0-2.png", "digit0.png", "digit1-2.png", "digit1.png", "digit2.png"]
    for r in results:
        assert np.array_equal(np.asarray(Image.open(r["normalized"])), load_image(r["file"]))
    text = run_cli("runtime", "predict", root / "a", "--model", pipeline.models / "mnist_mlp_int8.tflite",
                   "--save-normalized", tmp_path / "text")
    assert text.stdout.splitlines()[-1] == f"Images as the model saw them: 3 in {tmp_path / 'text'}"


@pytest.mark.parametrize("flags, message", [
    (["--top", "0"], "python -m runtime predict: error: argument --top: expected a whole number >= 1, got 0"),
    (["--top", "11"], "error: --top must be 1..10 (the model's classes), got 11"),
])
def test_predict_option_errors(pipeline, photo_folder, flags, message):
    root, _ = photo_folder
    result = run_cli("runtime", "predict", root / "a", "--model", pipeline.models / "mnist_mlp_int8.tflite", *flags)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == message


def test_predict_save_normalized_into_a_file_is_a_clear_error(pipeline, photo_folder, tmp_path):
    root, _ = photo_folder
    (tmp_path / "taken").write_text("a file")
    result = run_cli("runtime", "predict", root / "a", "--model", pipeline.models / "mnist_mlp_int8.tflite",
                     "--save-normalized", tmp_path / "taken")
    assert result.returncode == 2
    assert re.fullmatch(rf"error: --save-normalized {re.escape(str(tmp_path / 'taken'))}: cannot create the folder \(.+\)",
                        our_lines(result.stderr)[0])


@pytest.mark.parametrize("command", ["predict", "watch"])
def test_min_confidence_must_be_a_fraction(pipeline, photo_folder, command):
    """predict and watch share their model options: the same check, the same help."""
    root, _ = photo_folder
    result = run_cli("runtime", command, root / "a", "--min-confidence", "1.5")
    assert result.returncode == 2 and "expected a fraction in 0..1, got 1.5" in result.stderr
    shown = run_cli("runtime", command, "--help").stdout
    assert "--models DIR          folder whose manifest names the default model (default: models)" in shown
    assert "--min-confidence P    mark answers whose probability is below P as unsure (default: 0.7" in shown


def test_predict_without_model_says_which_model_answered(pipeline, photo_folder):
    """An image of your own, predicted with only --models, is answered by the folder's MNIST
    model: the output names it and its classes, so the answer is not taken for your model's."""
    root, _ = photo_folder
    result = run_cli("runtime", "predict", root / "a", "--models", pipeline.models)
    from runtime.store.folder import ModelsFolder

    chosen = ModelsFolder.open(pipeline.models).default_model()  # the int8 TFLite file when it is verified
    trained = re.escape(pipeline.manifest["dataset"]["name"])
    model_line = next(line for line in our_lines(result.stderr) if line.startswith("Model: "))
    assert re.fullmatch(rf"Model: {re.escape(str(chosen))} \([\w-]+, trained on {trained}; "
                        r"10 classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9\)", model_line), result.stderr
    assert "Model:" not in result.stdout  # stdout keeps one `file: answer` line per image
    as_json = json.loads(run_cli("runtime", "predict", root / "a", "--models", pipeline.models, "--json").stdout)
    assert as_json["model"] == str(chosen)
