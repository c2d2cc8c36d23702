"""Phone photos of real MNIST test digits (tests/photos.py), one degradation at a time and
all mixed, read from files as `python -m runtime predict` reads them, classified by the
int8 model: each case gives the right digits, or a clear refusal where there is no single
digit. The issue's targets are asserted on the default (seed) model."""

import re

import numpy as np
import pytest
from PIL import Image

import runtime
from runtime.preprocess.digits import normalize_digit
from runtime.preprocess.images import ImageError, load_image

from conftest import run_cli
from photos import case_style, random_style, render_photo

CLEAR_CONFIDENCE = 0.9
"""Digits the float model reads right with this confidence from MNIST's own 28x28 image."""
CASE_DIGITS = 40
CASE_MIN_ACCURACY = 0.85
"""Each degradation, on clear digits."""
NEAR_CLEAN = 0.05
"""Vignetting, a dark edge or border, a shadow: within 5 points of the same digits on clean paper."""
MIXED_PHOTOS = 300
"""Per generator family: enough that the measured share is within about 2 points of the true one."""
PHOTO_TARGET = 0.80
"""The issue's target for the default model on photo-like digits (all digits, not only clear ones)."""
ROBUST_TARGET = 0.92
"""The issue's target for `train --model cnn --augment` on the same photos."""
TWO_DIGITS_REFUSED = 0.9
"""Photos of two digits side by side that must be refused (the others answer one digit)."""


@pytest.fixture(scope="module")
def model(pipeline):
    return runtime.load(pipeline.models / "mnist_mlp_int8.tflite")


@pytest.fixture(scope="module")
def clear(pipeline, reference):
    probs = runtime.load(pipeline.models / "mnist_mlp_float32.tflite").predict(reference.images)
    return np.flatnonzero((probs.max(1) >= CLEAR_CONFIDENCE) & (probs.argmax(1) == reference.labels))


def photo_file(folder, name, photo, jpeg: bool):
    """PNGs are written with zlib's fastest level: the same pixels, a quarter of the time
    (PIL's default level took 0.2-0.5 s per photo); reading them is unchanged."""
    path = folder / (f"{name}.jpg" if jpeg else f"{name}.png")
    Image.fromarray(photo).save(path, **({"quality": 92} if jpeg else {"compress_level": 1}))
    return path


def read_case(model, reference, digits, case, seed, folder):
    """(right answers, refusal messages) for photos of `digits` in `case` (the photo's own
    settings drawn from `seed`, so that two cases with one seed share size, place and paper)."""
    rng = np.random.default_rng(seed)
    right, refusals = 0, []
    for k, i in enumerate(digits):
        style = case_style(case, rng)
        photo = render_photo(reference.images[i], style, rng, second=reference.images[digits[(k + 1) % len(digits)]])
        path = photo_file(folder, f"{case}_{k}", photo, jpeg=k % 2 == 0)
        try:
            right += int(model.predict(load_image(path))[0].argmax() == reference.labels[i])
        except ImageError as err:
            refusals.append(str(err))
    return right, refusals


@pytest.fixture(scope="module")
def case_digits(clear):
    return clear[:CASE_DIGITS]


@pytest.fixture(scope="module")
def clean_right(model, reference, case_digits, tmp_path_factory):
    right, refusals = read_case(model, reference, case_digits, "clean", 7, tmp_path_factory.mktemp("clean"))
    assert refusals == []
    return right


FAST_CASES = ("dark_edge", "thin_pen", "jpeg")
"""One case of each rule (near clean paper; the 85% on its own) and the JPEG path stay in the
fast tier; the other nine (about 5 s each) run in the slow one."""


@pytest.mark.parametrize("case", [
    pytest.param(case, marks=[] if case in FAST_CASES else [pytest.mark.slow])
    for case in ("vignette", "dark_edge", "dark_border", "shadow", "gradient", "thin_pen",
                 "thick_pen", "pencil", "blue_ruled", "rotation", "small", "jpeg")
])
def test_each_degradation_reads_the_digits(model, reference, case_digits, clean_right, case, tmp_path):
    right, refusals = read_case(model, reference, case_digits, case, 7, tmp_path)
    n = len(case_digits)
    print(f"{case}: {right}/{n} right, clean paper {clean_right}/{n}, refused {len(refusals)}")
    assert right >= CASE_MIN_ACCURACY * n, (right, refusals)
    if case in ("vignette", "dark_edge", "dark_border", "shadow"):
        assert right >= clean_right - NEAR_CLEAN * n, (right, clean_right)


def test_two_digits_side_by_side_are_refused(model, reference, case_digits, tmp_path):
    right, refusals = read_case(model, reference, case_digits, "two_digits", 7, tmp_path)
    assert len(refusals) >= TWO_DIGITS_REFUSED * len(case_digits), (len(refusals), right)
    for message in refusals:
        assert re.fullmatch(rf"{re.escape(str(tmp_path))}/two_digits_\d+\.(jpg|png): found (two digits side by side|more than "
                            r"one digit) \(.+\); crop the photo to one digit", message), message


def test_predict_refuses_two_digits_in_one_line(pipeline, reference, case_digits, tmp_path):
    rng = np.random.default_rng(11)
    style = case_style("two_digits", rng)
    path = photo_file(tmp_path, "pair", render_photo(reference.images[case_digits[0]], style, rng,
                                                    second=reference.images[case_digits[1]]), jpeg=True)
    result = run_cli("runtime", "predict", path, "--model", pipeline.models / "mnist_mlp_int8.tflite")
    assert result.returncode == 1 and result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {path}: found ") and "crop the photo to one digit" in errors[0]


def mixed_photo_accuracy(model, reference) -> dict:
    """Right answers per generator family on MIXED_PHOTOS photos each: all reference digits
    (hard ones too), several variations at once, both families (the one the normalisation
    was developed on and the held-out one). The photos stay in memory, converted to grayscale
    as read_grayscale converts an RGB file (the cases above go through files)."""
    right = {}
    for split, seed in (("tune", 21), ("held-out", 22)):
        rng = np.random.default_rng(seed)
        digits = rng.choice(len(reference.labels), MIXED_PHOTOS, replace=False)
        right[split] = 0
        for i in digits:
            photo = render_photo(reference.images[i], random_style(rng, split), rng)
            gray = np.asarray(Image.fromarray(photo).convert("L"), dtype=np.float32)
            try:
                right[split] += int(model.predict(normalize_digit(gray))[0].argmax() == reference.labels[i])
            except ImageError:
                pass  # a refusal counts as wrong
    print({split: f"{n}/{MIXED_PHOTOS}" for split, n in right.items()})
    return right


@pytest.mark.slow
def test_photo_like_digits_reach_the_target(model, reference):
    """600 photos rendered and normalised (about a minute): the issue's target, in the slow tier."""
    right = mixed_photo_accuracy(model, reference)
    assert sum(right.values()) >= PHOTO_TARGET * 2 * MIXED_PHOTOS, right


@pytest.mark.slow
def test_a_cnn_trained_with_augment_reaches_its_target(reference, tmp_path):
    """`python -m train --model cnn --augment` (5 epochs on the same data as the seed),
    converted to int8: more right on the same photos than the seed, and above 0.92."""
    models = tmp_path / "robust"
    trained = run_cli("train", "--model", "cnn", "--augment", "--dataset", "mnist-5k", "--models", models)
    assert trained.returncode == 0, trained.stderr[-2000:]
    converted = run_cli("convert", "tflite", "--quantize", "int8", "--models", models)
    assert converted.returncode == 0, converted.stdout[-2000:] + converted.stderr[-2000:]
    right = mixed_photo_accuracy(runtime.load(models / "mnist_cnn_int8.tflite"), reference)
    assert sum(right.values()) >= ROBUST_TARGET * 2 * MIXED_PHOTOS, right
