"""runtime.preprocess.raster and runtime.preprocess.digits: each numeric building block against a brute-force reference, and the
normalisation against MNIST itself (stroke weight, ink, accuracy)."""

import numpy as np
import pytest

import runtime
from runtime.preprocess import digits
from runtime.preprocess.digits import normalize_digit
from runtime.errors import ImageError
from runtime.preprocess.raster import (
    box_mean3, closing, dilate, label_components, percentile, reduce_blocks, resample, resample_max,
    resample_weights, running_extreme, stroke_width,
)

EXACT = 1e-6
"""float32 sums of a handful of terms agree with float64 references to this."""
STROKE_MATCH = 0.05
"""Photos of MNIST digits come back with MNIST's median stroke width to within 5%..."""
INK_MATCH = 0.1
"""...and, on clean paper, its mean ink per image to within 10%."""
PIPELINE_ACCURACY_LOSS = 0.03
"""Enlarged MNIST digits read as photos lose at most 3 points of the model's accuracy."""


def brute_extreme(image, window, axis, take_max):
    r = window // 2
    out = np.empty_like(image)
    for k in range(image.shape[axis]):
        lo, hi = max(0, k - r), min(image.shape[axis], k + r + 1)
        part = np.take(image, np.arange(lo, hi), axis=axis)
        value = part.max(axis=axis) if take_max else part.min(axis=axis)
        if axis == 0:
            out[k] = value
        else:
            out[:, k] = value
    return out


@pytest.mark.parametrize("window", [1, 3, 5, 9, 31])
@pytest.mark.parametrize("axis", [0, 1])
def test_running_extreme_is_a_centred_window_max_and_min(window, axis):
    image = np.random.default_rng(window).random((23, 17)).astype(np.float32)
    for take_max in (True, False):
        assert np.array_equal(running_extreme(image, window, axis, take_max), brute_extreme(image, window, axis, take_max))


def test_closing_removes_strokes_and_keeps_a_table_edge():
    paper = np.full((60, 80), 200, np.float32)
    paper[:, :20] = 30  # a table, wider than the window
    paper[30:33, 40:70] = 50  # a stroke 3 pixels thick
    background = closing(paper, 9)
    assert np.array_equal(background[:, :20], paper[:, :20])  # the table's edge stays sharp
    assert np.all(background[:, 20:] == 200)  # the stroke is gone


def test_resampling_weights_average_areas_and_interpolate_linearly():
    for n_in, n_out in [(10, 5), (7, 3), (5, 5), (3, 7), (1, 4)]:
        assert np.allclose(resample_weights(n_in, n_out).sum(axis=1), 1, atol=EXACT)
    blocks = np.arange(24, dtype=np.float32).reshape(4, 6)
    assert np.allclose(resample(blocks, 2, 3), blocks.reshape(2, 2, 3, 2).mean(axis=(1, 3)), atol=EXACT)
    ramp = np.tile(np.arange(4, dtype=np.float32), (2, 1))
    enlarged = resample(ramp, 2, 8)[0]
    inner = (np.arange(8) + 0.5) / 2 - 0.5  # half-pixel centres, clamped at the ends
    assert np.allclose(enlarged, np.clip(inner, 0, 3), atol=EXACT)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (5, 1), (4, 6)])
def test_box_mean3_is_the_mean_of_the_pixels_that_exist(shape):
    image = np.random.default_rng(3).uniform(0, 255, shape).astype(np.float32)
    expected = np.array([[image[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2].mean() for x in range(shape[1])]
                         for y in range(shape[0])])
    assert np.allclose(box_mean3(image), expected, rtol=1e-5)


def test_reduce_blocks_is_the_mean_of_whole_blocks():
    image = np.random.default_rng(0).random((1030, 770)).astype(np.float32)
    reduced = reduce_blocks(image, 512)  # k = 3: 343 x 256 whole blocks, the rest dropped
    assert reduced.shape == (343, 256)
    assert np.allclose(reduced, image[:1029, :768].reshape(343, 3, 256, 3).mean(axis=(1, 3)), atol=EXACT)
    assert reduce_blocks(image[:500, :400], 512) is not None and reduce_blocks(image[:500, :400], 512).shape == (500, 400)


def test_resample_max_keeps_a_one_pixel_stroke():
    line = np.zeros((90, 90), bool)
    line[np.arange(90), np.arange(90)] = True  # a diagonal, one pixel wide
    small = resample_max(line, 20, 20)
    assert small[np.arange(20), np.arange(20)].all() and small.sum() <= 3 * 20


def flood_labels(mask):
    """Reference 8-connected labelling by flood fill."""
    labels = np.zeros(mask.shape, int)
    count = 0
    for y, x in zip(*np.nonzero(mask)):
        if labels[y, x]:
            continue
        count += 1
        stack = [(y, x)]
        labels[y, x] = count
        while stack:
            cy, cx = stack.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = cy + dy, cx + dx
                    if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not labels[ny, nx]:
                        labels[ny, nx] = count
                        stack.append((ny, nx))
    return labels, count


@pytest.mark.parametrize("density", [0.2, 0.45, 0.6])
def test_components_match_a_flood_fill(density):
    mask = np.random.default_rng(int(density * 100)).random((40, 50)) < density
    labels, count = label_components(mask)
    expected, expected_count = flood_labels(mask)
    assert count == expected_count
    # the same partition, numbered by first pixel in row-major order
    assert np.array_equal(labels, expected)


def test_stroke_width_and_dilation():
    bar = np.zeros((40, 200), bool)
    bar[10:16, 5:195] = True
    assert stroke_width(bar) == pytest.approx(6, rel=0.05)
    dot = np.zeros((11, 11), bool)
    dot[5, 5] = True
    assert dilate(dot, 1).sum() == 9  # a 3x3 square
    assert dilate(dot, 2).sum() == 21  # then a plus: 5x5 without its corners (an octagon)
    assert np.array_equal(dilate(dilate(dot, 2), 2, grow=False), dot)


def test_percentile_is_the_value_at_rank():
    values = np.array([5.0, 1.0, 4.0, 2.0, 3.0])
    assert [percentile(values, q) for q in (0, 0.5, 0.9, 1)] == [1.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize("value", [0, 128, 255])
def test_flat_images_hold_no_digit(value):
    with pytest.raises(ImageError, match=r"^photo\.png: no digit found"):
        normalize_digit(np.full((300, 200), value, np.float32), "photo.png")


@pytest.mark.parametrize("shape", [(28,), (2, 3, 4), (0, 5)])
def test_wrong_shapes_are_refused(shape):
    with pytest.raises(ImageError, match=r"expected a 2-D grayscale image"):
        normalize_digit(np.zeros(shape, np.float32))


def as_photo(image: np.ndarray, light_on_dark: bool = False) -> np.ndarray:
    """An MNIST digit enlarged 10x (linear), dark ink on light paper (or as it is), with a margin."""
    big = resample(image.astype(np.float32), 280, 280)
    if light_on_dark:
        return np.pad(big, 100)
    return np.pad(230 - big * (200 / 255), 100, constant_values=230)


def stroke_widths(batch):
    """Stroke widths measured as the calibration in runtime.preprocess.digits does: 4x, linear, half."""
    return np.array([stroke_width(resample(im.astype(np.float32) / 255, 112, 112) >= 0.5) for im in batch])


@pytest.mark.slow
def test_photos_of_mnist_digits_come_back_with_mnist_strokes(reference):
    """The stroke constants are calibrated here: crisp photos of MNIST digits keep their
    strokes (KEEP_STROKES) and come back with MNIST's width and ink; thin-pen photos are
    rebuilt at MNIST's median width (MNIST_STROKE)."""
    from photos import case_style, render_photo

    images = reference.images[:200]
    mnist_width = np.median(stroke_widths(images))
    for case, tolerance in (("clean", STROKE_MATCH), ("thin_pen", STROKE_MATCH)):
        rng = np.random.default_rng(9)
        photos = [render_photo(im, case_style(case, rng), rng) for im in images]
        normalised = np.stack([normalize_digit(p.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])) for p in photos])
        our_width = np.median(stroke_widths(normalised))
        assert abs(our_width / mnist_width - 1) <= tolerance, (case, our_width, mnist_width)
        if case == "clean":
            assert abs(normalised.mean() / images.mean() - 1) <= INK_MATCH, (normalised.mean(), images.mean())


@pytest.mark.slow
def test_enlarged_mnist_digits_keep_the_models_accuracy(pipeline, reference):
    """MNIST's own digits, enlarged and read as photos, keep nearly all of the model's accuracy."""
    model = runtime.load(pipeline.models / "mnist_mlp_float32.tflite")
    images, labels = reference.images[:300], reference.labels[:300]
    normalised = np.stack([normalize_digit(as_photo(im)) for im in images])
    as_is = (model.predict(images).argmax(1) == labels).mean()
    through_photos = (model.predict(normalised).argmax(1) == labels).mean()
    assert through_photos >= as_is - PIPELINE_ACCURACY_LOSS, (through_photos, as_is)


@pytest.mark.slow
def test_light_ink_on_dark_is_read_too(pipeline, reference):
    """A digit drawn light on dark (a drawing app, MNIST enlarged) gives the same image as dark on light."""
    for image in reference.images[:20]:
        dark_on_light = normalize_digit(as_photo(image))
        light_on_dark = normalize_digit(as_photo(image, light_on_dark=True))
        assert np.abs(dark_on_light.astype(int) - light_on_dark).mean() <= 255 * 0.02


def test_working_size_bounds_the_work():
    photo = np.full((4000, 3000), 220, np.float32)
    photo[1500:2500, 1400:1480] = 30  # a "1"
    assert reduce_blocks(photo, digits.WORKING_SIDE).shape == (500, 375)
    one = normalize_digit(photo)
    rows, cols = np.flatnonzero(one.any(1)), np.flatnonzero(one.any(0))
    assert rows[-1] - rows[0] + 1 == 20 and cols[-1] - cols[0] + 1 <= 6


TIGHT_LOSS = 0.15
"""A digit cropped to its ink, with no paper around it, loses at most this much accuracy."""


def test_a_digit_cropped_to_its_ink_is_read(pipeline, reference):
    """No margin at all: the digit touches every side of the image (users crop like this)."""
    model = runtime.load(pipeline.models / "mnist_mlp_float32.tflite")
    right = refused = 0
    for image, label in zip(reference.images[:100], reference.labels[:100]):
        ys, xs = np.nonzero(image > 40)
        crop = image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
        photo = 230 - resample(crop, crop.shape[0] * 8, crop.shape[1] * 8) * (200 / 255)
        try:
            right += int(model.predict(normalize_digit(photo))[0].argmax() == label)
        except ImageError:
            refused += 1
    as_is = (model.predict(reference.images[:100]).argmax(1) == reference.labels[:100]).mean()
    assert refused <= 2 and right / 100 >= as_is - TIGHT_LOSS, (right, refused, as_is)


@pytest.mark.slow
def test_blank_photos_hold_no_digit():
    """Paper with everything a photo adds (light, shadow, table, lines, noise, JPEG) but no digit."""
    from photos import random_style, render_photo

    rng = np.random.default_rng(77)
    messages = []
    for _ in range(30):
        photo = render_photo(np.zeros((28, 28), np.uint8), random_style(rng, "tune"), rng)
        with pytest.raises(ImageError) as caught:
            normalize_digit(photo.astype(np.float32) @ np.float32([0.299, 0.587, 0.114]), "blank.jpg")
        messages.append(str(caught.value))
    assert sum(m.startswith("blank.jpg: no digit found (") for m in messages) >= 0.9 * len(messages), messages
