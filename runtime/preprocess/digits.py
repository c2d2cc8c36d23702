"""A photo of one handwritten digit to the 28x28 image MNIST would have made of it.

MNIST's digits are binary pen strokes, fitted into 20x20 with anti-aliasing and placed in
28x28 by their centre of mass. A phone photo adds what the model never saw: uneven light,
vignetting, shadows, a dark table edge, ruled lines, specks, pens much thinner or thicker
than MNIST's. `normalize_digit` removes those and rebuilds MNIST's steps:

1. reduce: average k x k blocks, k = ceil(longer side / WORKING_SIDE) (`reduce_blocks`);
2. ink (`ink_contrast`): the paper's brightness under uneven light is a grey-level closing
   (a max then a min filter) that removes every mark narrower than its window; each pixel's
   ink is how much darker it is than that paper, 0..1. Light ink on dark is turned round;
3. digit (`find_digit`, `select_digit`): ink above the paper's noise, then above a share
   of the digit's own ink level; ruled lines removed; 8-connected components, of which page
   borders, table edges, lines and specks are left out; the component with the most ink
   and those near it are the digit. No digit, or two side by side, is an ImageError;
4. stroke weight (`digit_image`): the stroke width is measured at 4x the 20-pixel box; a
   stroke in MNIST's usual range is kept, a thinner or thicker one is rebuilt at MNIST's
   median width by dilating or eroding the digit's binary image;
5. fit (`fit_box`, `center_of_mass_pad`): anti-aliased (area-averaged) to 20 pixels on
   the longer side, and placed in 28x28 with its centre of mass at the centre.

Every step is plain numpy with a rule stated in its docstring, built from the exactly
defined image operations of `runtime.preprocess.raster`, so it can be re-implemented exactly elsewhere
(a web page's JavaScript). No Pillow, no scipy.
"""

from __future__ import annotations

import numpy as np

from ..errors import ImageError
from .raster import (
    box_mean3, closing, dilate, label_components, opening, percentile, reduce_blocks, resample, resample_max,
    stroke_width,
)

MNIST_SIZE = 28
DIGIT_BOX = 20
"""MNIST fits each digit into 20x20 and pads it to 28x28."""
WORKING_SIDE = 512
"""Photos are reduced by an integer block mean until the longer side is at most this."""
BACKGROUND_WINDOW = 1 / 4
"""Closing window as a share of the working image's longer side: wider than any pen stroke."""
LIGHT_INK_THIN = 0.5
"""An image darker than mid-range is light ink on dark when its brightest pixels are thin marks:
more than this share of their height vanishes in an opening."""
PAPER_PERCENTILE = 0.9
"""The page's paper brightness: this percentile of the background estimate."""
DARK_PAPER_FLOOR = 0.5
"""Ink contrast is relative to the local paper, but never to less than this share of the page's paper."""
MIN_CONTRAST = 0.12
"""Below this contrast (0..1, share of the paper's brightness) a pixel is paper."""
NOISE_SPREADS = 6.0
"""...and below the paper's noise level plus this many of its spreads (see find_digit)."""
RELATIVE_INK = 0.4
"""Second pass: pixels below this share of the digit's strong ink level are paper (faint lines)."""
STRONG_PERCENTILE = 0.9
"""The digit's strong ink level: this percentile of its ink pixels' contrast."""
NO_DIGIT_CONTRAST = 60 / 255
"""A digit's strong ink level must reach this, else the image holds no digit."""
FRAME_FILL = 0.7
"""Columns (rows) this full of ink are a border or a table edge; line finding ignores them."""
LINE_COVER = 0.3
"""A row (column) this much covered by ink is on a ruled line..."""
LINE_REACH = 0.7
"""...and its ink reaches across this share of it (a digit's bar does not)..."""
LINE_THICKNESS = 0.02
"""...if the band of such rows is at most this share of the image's height thick."""
LINE_DARKER = 1.4
"""Ink on a line darker than this many times the line's own contrast is a stroke, and stays."""
FRAME_CONTACT = 0.6
"""A component in contact with this share of two sides of the image (a dark border, a table
corner), or of one side while reaching at most FRAME_DEPTH into the image (a table edge), is
not ink of the digit. (A digit cropped tight touches the sides, but is deeper than a strip.)"""
FRAME_DEPTH = 0.25
TOUCH_WEIGHT = 0.25
"""A candidate touching the image's edge counts with this share of its ink when the digit's
first component is chosen (remnants of a table edge touch it; a digit rarely does)."""
LINE_SPAN = 0.6
"""A component whose box spans this share of the image's height or width and that is thin
is a ruled line or a page edge."""
THIN = 0.08
"""...thin: its shorter side below this share of its longer side."""
MIN_DIGIT_SIDE = 0.025
"""A digit's box is at least this share of the image's longer side (a speck is not a digit)."""
MIN_AREA = 0.00015
"""Components smaller than this share of the working image are specks."""
GROUP_MARGIN = 0.35
"""Components within this share of the digit's size from its box belong to the digit."""
GROUP_MIN_MASS = 0.02
"""...if they hold at least this share of the largest component's ink."""
SECOND_DIGIT_MASS = 0.2
"""A second ink group with at least this share of the digit's ink and SECOND_DIGIT_HEIGHT of
its height is a second digit."""
SECOND_DIGIT_HEIGHT = 0.6
SIDE_BY_SIDE_WIDTH = 0.9
"""A digit's ink split by a column gap into two digit-sized parts, and at least this many times
as wide as tall, is two digits."""
TOUCHING_WIDTH = 1.8
"""Ink this many times wider than tall, with a narrow join in its middle half..."""
JOIN_SHARE = 0.4
"""...(a column holding at most this share of the fullest column's ink) is two digits touching."""
SCALE = 4
"""Stroke weight is measured and adjusted at this multiple of the 20-pixel box (80 pixels)."""
KEEP_STROKES = (6.75, 12.5)
"""Stroke widths (`stroke_width` of `stroke_mask`) left as they are: MNIST's 10th and 90th
percentiles, 5.67 and 10.51 (its digits enlarged 4x, linearly, and thresholded at half),
times 1.19, how much wider the mask of a crisp photo of an MNIST digit measures than MNIST's
own half-threshold stroke."""
MNIST_STROKE = 8.3
"""The width a stroke outside KEEP_STROKES is rebuilt at: thin-pen photos of MNIST digits
rebuilt at 8.3 come out, fitted into 28x28, with MNIST's median width, 7.8 (measured as on
MNIST; tests/test_digits.py checks it)."""
MAX_ADJUST = 8
"""Largest dilation or erosion, in pixels at SCALE (2 pixels of the final image)."""


def normalize_digit(gray: np.ndarray, name: str = "image") -> np.ndarray:
    """Grayscale float 0..255 (any size, either polarity) to an MNIST-style uint8 (28, 28).

    Raises ImageError naming `name` when the image holds no digit, or two side by side."""
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ImageError(f"{name}: expected a 2-D grayscale image, got shape {gray.shape}")
    if gray.shape == (MNIST_SIZE, MNIST_SIZE) and _looks_like_mnist(gray):
        return np.round(gray).astype(np.uint8)
    ink = ink_contrast(reduce_blocks(gray, WORKING_SIDE))
    mask, strong = find_digit(ink, name)
    return center_of_mass_pad(digit_image(ink, mask, strong))


def _looks_like_mnist(gray: np.ndarray) -> bool:
    """Already 28x28 light-on-dark with a dark border: leave it exactly as it is."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return border.max() < 32 and gray.max() > 128


def ink_contrast(work: np.ndarray) -> np.ndarray:
    """How much darker than the paper each pixel is, 0..1 (light ink on dark is turned round).

    The paper under uneven light, B, is the closing of the image I with a window of
    BACKGROUND_WINDOW of the longer side (odd, at least 3). The page's paper level P is B's
    PAPER_PERCENTILE percentile. Ink = clip((B - I) / max(B, DARK_PAPER_FLOOR * P), 0, 1):
    a shadow or vignetting scales ink and paper alike and leaves the ratio; a dark table,
    much darker than the paper, is not measured against itself, so its noise stays small.

    Polarity: when the median pixel is darker than the middle of the range (min + max) / 2,
    the image is light ink on dark (a drawing, MNIST itself) or a page mostly in shadow. It
    is light ink when the brightest pixels of the 3x3-smoothed image S (at or above its 99th
    percentile) are thin: on average more than LIGHT_INK_THIN of their height above S's
    minimum disappears in the opening of S (a min then a max filter, the same window). Then
    I becomes 255 - I, and B the closing of that."""
    window = max(3, int(round(max(work.shape) * BACKGROUND_WINDOW)) | 1)
    low, high = float(work.min()), float(work.max())
    if percentile(work, 0.5) < (low + high) / 2:
        smooth = box_mean3(work)
        top = percentile(smooth, 0.99)
        brightest = smooth >= top
        vanished = float((smooth - opening(smooth, window))[brightest].mean()) / max(top - float(smooth.min()), 1.0)
        if vanished > LIGHT_INK_THIN:
            work = 255.0 - work
    background = closing(work, window)
    paper = percentile(background, PAPER_PERCENTILE)
    floor = np.float32(max(DARK_PAPER_FLOOR * paper, 1.0))
    return np.clip((background - work) / np.maximum(background, floor), 0, 1)


def find_digit(ink: np.ndarray, name: str):
    """(bool mask of the digit's ink pixels, its strong ink level), or ImageError.

    Pass 1 thresholds at max(MIN_CONTRAST, p30 + NOISE_SPREADS * (p30 - p10)), p10 and p30
    the 10th and 30th percentiles of the ink: the paper's noise, read from the lightest 30%
    of the pixels, which are paper even when a digit cropped tight covers half the image.
    It picks the digit
    (`select_digit`); its strong ink level S is the STRONG_PERCENTILE percentile of its pixels.
    Pass 2 thresholds the whole image again at max(pass-1 threshold, RELATIVE_INK * S), which
    removes lines and shading much fainter than the pen, and picks again; only then are two
    digits refused (in pass 1, faint marks could pass for a second one)."""
    low, high = percentile(ink, 0.1), percentile(ink, 0.3)
    threshold = max(MIN_CONTRAST, high + NOISE_SPREADS * (high - low))
    mask = select_digit(ink, ink > threshold, name, refuse_two=False)
    strong = percentile(ink[mask], STRONG_PERCENTILE)
    if strong < NO_DIGIT_CONTRAST:
        raise ImageError(f"{name}: no digit found (nothing stands out from the background; contrast {strong * 255:.0f} of 255)")
    second = max(threshold, RELATIVE_INK * strong)
    mask = select_digit(ink, ink > second, name, refuse_two=True)
    return mask, percentile(ink[mask], STRONG_PERCENTILE)


def select_digit(ink: np.ndarray, mask: np.ndarray, name: str, refuse_two: bool = True) -> np.ndarray:
    """The digit's pixels among the ink pixels `mask`.

    1. Ruled lines go (`remove_long_lines`), so that what they joined comes apart.
    2. Of the 8-connected components, frames go: those along the image's edge (`frames`:
       a table edge, a dark border) and those long (LINE_SPAN of the image) and THIN (a
       line or a page edge). Those smaller than MIN_AREA of the image are specks.
    3. The candidate with the most ink (sum of squared contrast, times TOUCH_WEIGHT when it
       touches the image's edge) starts the digit; candidates within GROUP_MARGIN of the
       digit's size from its box, with at least GROUP_MIN_MASS of its ink, join it,
       repeatedly (those touching the edge only when the first one does).
    4. With `refuse_two`, two digits are refused: when the remaining candidates form a second such group as
       large as a digit (`Components.digit_sized`), when the group splits at a column gap into two
       (`Components.side_by_side`), or when it is very wide with a narrow join (`_narrow_join`)."""
    h, w = mask.shape
    parts = Components(remove_long_lines(mask, ink), ink)
    if parts.count == 0:
        raise ImageError(f"{name}: no digit found (only lines, edges or specks stand out)")
    candidate = (parts.area >= max(2, MIN_AREA * h * w)) & ~parts.frames()
    if not candidate.any():
        raise ImageError(f"{name}: no digit found (only lines, edges or specks stand out)")
    first = parts.group(candidate)
    _, top, left, bottom, right = parts.extent(first)
    size = (max(bottom - top, right - left) + 1) / max(h, w)
    if size < MIN_DIGIT_SIDE:
        raise ImageError(f"{name}: no digit found (the largest mark is {size:.1%} of the image's size, "
                         f"too small for a digit)")
    if not refuse_two:
        return parts.pixels(first)
    rest = candidate & ~first
    if rest.any():
        second = parts.group(rest)
        if parts.digit_sized(second, first):
            raise ImageError(f"{name}: found more than one digit ({parts.describe(first, second)}); "
                             "crop the photo to one digit")
    split = parts.side_by_side(first)
    if split is not None:
        raise ImageError(f"{name}: found two digits side by side ({parts.describe(*split)}); "
                         "crop the photo to one digit")
    digit = parts.pixels(first)
    join = _narrow_join(digit)
    if join is not None:
        raise ImageError(f"{name}: found two digits side by side (ink {join[0]:.1f} times wider than tall, "
                         f"joined by a thin stroke at {join[1]:.0%} of its width); crop the photo to one digit")
    return digit


class Components:
    """The 8-connected components of a mask and what selection needs of each (arrays indexed
    0..count-1 for labels 1..count)."""

    def __init__(self, mask: np.ndarray, ink: np.ndarray):
        self.shape = mask.shape
        self.labels, self.count = label_components(mask)
        h, w = mask.shape
        ys, xs = np.nonzero(self.labels)
        lab = self.labels[ys, xs] - 1
        n = self.count
        self.area = np.bincount(lab, minlength=n)
        """Pixels."""
        self.mass = np.bincount(lab, weights=np.square(ink[ys, xs]), minlength=n)
        """Ink: the sum of squared contrast (dark strokes weigh more than faint blotches)."""
        self.top = np.full(n, h)
        self.left = np.full(n, w)
        self.bottom = np.full(n, -1)
        self.right = np.full(n, -1)
        np.minimum.at(self.top, lab, ys)
        np.minimum.at(self.left, lab, xs)
        np.maximum.at(self.bottom, lab, ys)
        np.maximum.at(self.right, lab, xs)
        """Bounding box, inclusive."""
        sides = [ys == 0, ys == h - 1, xs == 0, xs == w - 1]
        self.contact = np.stack([np.bincount(lab[side], minlength=n) for side in sides], axis=1) / np.array([w, w, h, h])
        """Share of each side of the image (top, bottom, left, right) the component touches."""
        self.touches = self.contact.max(axis=1) > 0

    def pixels(self, chosen: np.ndarray) -> np.ndarray:
        """Bool mask of the chosen components' pixels."""
        lookup = np.concatenate([[False], chosen])
        return lookup[self.labels]

    def frames(self) -> np.ndarray:
        """Components along the image's edge: in contact with FRAME_CONTACT of two of its
        sides, or of one side while reaching at most FRAME_DEPTH into the image; and those
        LINE_SPAN long and THIN."""
        h, w = self.shape
        height, width = self.bottom - self.top + 1, self.right - self.left + 1
        along = self.contact >= FRAME_CONTACT
        depth = np.stack([height / h, height / h, width / w, width / w], axis=1)  # away from each side
        strip = (along & (depth <= FRAME_DEPTH)).any(axis=1)
        long = (height >= LINE_SPAN * h) | (width >= LINE_SPAN * w)
        thin = np.minimum(height, width) < THIN * np.maximum(height, width)
        return (along.sum(axis=1) >= 2) | strip | (long & thin)

    def extent(self, chosen: np.ndarray):
        """(ink mass, top, left, bottom, right) of the chosen components together."""
        return (float(self.mass[chosen].sum()), int(self.top[chosen].min()), int(self.left[chosen].min()),
                int(self.bottom[chosen].max()), int(self.right[chosen].max()))

    def group(self, candidate: np.ndarray) -> np.ndarray:
        """The candidate with the most ink and the candidates near it (see select_digit)."""
        weight = np.where(self.touches, TOUCH_WEIGHT, 1.0) * self.mass
        seed = int(np.argmax(np.where(candidate, weight, -1)))
        group = np.zeros_like(candidate)
        group[seed] = True
        floor = GROUP_MIN_MASS * self.mass[seed]
        if not self.touches[seed]:
            candidate = candidate & ~self.touches
        while True:
            _, y0, x0, y1, x1 = self.extent(group)
            margin = GROUP_MARGIN * max(y1 - y0 + 1, x1 - x0 + 1)
            near = (candidate & ~group & (self.mass >= floor) & (self.top <= y1 + margin)
                    & (self.bottom >= y0 - margin) & (self.left <= x1 + margin) & (self.right >= x0 - margin))
            if not near.any():
                return group
            group |= near

    def digit_sized(self, part: np.ndarray, other: np.ndarray) -> bool:
        """`part` could be a digit of its own beside `other`: at least SECOND_DIGIT_HEIGHT of
        its height and SECOND_DIGIT_MASS of its ink."""
        m1, t1, _, b1, _ = self.extent(other)
        m2, t2, _, b2, _ = self.extent(part)
        return m2 >= SECOND_DIGIT_MASS * m1 and (b2 - t2 + 1) >= SECOND_DIGIT_HEIGHT * (b1 - t1 + 1)

    def side_by_side(self, group: np.ndarray):
        """When the group is at least SIDE_BY_SIDE_WIDTH times as wide as tall: the first
        column gap (its components sorted by left edge) that splits it into two parts each
        digit-sized beside the other, as (left part, right part); else None."""
        _, t, l, b, r = self.extent(group)
        if (r - l + 1) < SIDE_BY_SIDE_WIDTH * (b - t + 1):
            return None
        members = np.flatnonzero(group)
        order = members[np.argsort(self.left[members], kind="stable")]
        reach = -1
        for k, c in enumerate(order[:-1]):
            reach = max(reach, self.right[c])
            if self.left[order[k + 1]] > reach:  # a gap: everything so far lies left of the rest
                a = np.zeros_like(group)
                a[order[: k + 1]] = True
                z = group & ~a
                if self.digit_sized(a, z) and self.digit_sized(z, a):
                    return a, z
        return None

    def describe(self, a: np.ndarray, b: np.ndarray) -> str:
        places = sorted([self.extent(a)[2], self.extent(b)[2]])
        return "ink groups starting at {:.0%} and {:.0%} of the width".format(places[0] / self.shape[1], places[1] / self.shape[1])


def _narrow_join(digit: np.ndarray):
    """Two digits that touch: the ink is at least TOUCHING_WIDTH times as wide as tall and,
    in the middle half of its width, some column holds at most JOIN_SHARE of the ink of the
    fullest column: (width / height, place of that column as a share of the width), else None."""
    rows, cols = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    if width < TOUCHING_WIDTH * height:
        return None
    counts = digit[:, cols[0] : cols[-1] + 1].sum(0)
    lo, hi = width // 4, width - width // 4
    middle = int(np.argmin(counts[lo:hi])) + lo
    if counts[middle] <= JOIN_SHARE * counts.max():
        return width / height, middle / width
    return None


def remove_long_lines(mask: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """The mask without ruled lines, horizontal or vertical (within about a degree).

    Columns at least FRAME_FILL full of ink (a dark border or table edge) are left out of
    the count. A row is on a line when the mask, widened by one row up and down, covers at
    least LINE_COVER of the other columns, and its first and last ink pixels there are
    LINE_REACH of their span apart; consecutive such rows form a line at most
    LINE_THICKNESS of the image's height thick (+2 for the widening; a thicker band is a
    stroke of a large digit). A line's pixels are removed except where a stroke crosses it
    (ink of the mask within 3 rows above and below the band in the same column) or where
    the ink is darker than the line (above LINE_DARKER times the 90th percentile of all line
    pixels' contrast). Columns likewise, for vertical lines."""
    out = mask.copy()
    for axis in (0, 1):
        m = mask if axis == 0 else mask.T
        e = ink if axis == 0 else ink.T
        open_columns = m.mean(axis=0) < FRAME_FILL
        if not open_columns.any():
            continue
        span = np.flatnonzero(open_columns)
        width = span[-1] - span[0] + 1
        widened = m.copy()
        widened[1:] |= m[:-1]
        widened[:-1] |= m[1:]
        widened &= open_columns[np.newaxis, :]
        first = np.argmax(widened, axis=1)
        last = widened.shape[1] - 1 - np.argmax(widened[:, ::-1], axis=1)
        rows = ((widened.sum(axis=1) >= LINE_COVER * open_columns.sum()) & (last - first + 1 >= LINE_REACH * width))
        if not rows.any():
            continue
        edges = np.diff(np.concatenate([[0], rows.astype(np.int8), [0]]))
        bands = [(r0, r1) for r0, r1 in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))
                 if r1 - r0 <= LINE_THICKNESS * m.shape[0] + 2]
        if not bands:
            continue
        on_line = np.zeros_like(m)
        for r0, r1 in bands:
            on_line[r0:r1] = m[r0:r1] & open_columns[np.newaxis, :]
        darker = e > LINE_DARKER * percentile(e[on_line], 0.9) if on_line.any() else on_line
        drop = np.zeros_like(m)
        for r0, r1 in bands:
            above = m[max(0, r0 - 3) : r0].any(axis=0)
            below = m[r1 : r1 + 3].any(axis=0)
            drop[r0:r1] = on_line[r0:r1] & ~(above & below)[np.newaxis, :] & ~darker[r0:r1]
        out &= ~(drop if axis == 0 else drop.T)
    return out


def digit_image(ink: np.ndarray, mask: np.ndarray, strong: float) -> np.ndarray:
    """The digit at MNIST's stroke weight, fitted into DIGIT_BOX pixels on its longer side
    (float 0..255).

    Its stroke width w is measured on the mask brought to SCALE * DIGIT_BOX pixels
    (`stroke_mask`). Inside KEEP_STROKES (MNIST's usual range) the stroke is left as it is:
    the digit's ink, divided by `strong` and clipped to 0..1, zero outside the mask, is fitted
    by `fit_box`. Outside it (a thin pen, a marker) the mask is rebuilt at MNIST_STROKE
    (`restroke`) and that binary image is fitted."""
    stroke = stroke_mask(mask)
    width = stroke_width(stroke)
    if KEEP_STROKES[0] <= width <= KEEP_STROKES[1]:
        ys, xs = np.nonzero(mask)
        box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        soft = np.where(mask[box], np.clip(ink[box] / np.float32(strong), 0, 1), 0).astype(np.float32)
        return fit_box(soft, DIGIT_BOX)
    return fit_box(restroke(stroke, width).astype(np.float32), DIGIT_BOX)


def stroke_mask(mask: np.ndarray) -> np.ndarray:
    """The digit's box cut out of the mask and brought to SCALE * DIGIT_BOX pixels on its
    longer side: enlarged by `resample` (linear) and thresholded at 0.5, or shrunk by
    `resample_max` (a pixel is ink when any pixel under it is, so a stroke thinner than the
    shrinking survives as one pixel)."""
    ys, xs = np.nonzero(mask)
    crop = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    scale = SCALE * DIGIT_BOX / max(crop.shape)
    height, width = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    if scale >= 1:
        return resample(crop.astype(np.float32), height, width) >= 0.5
    return resample_max(crop, height, width)


def restroke(stroke: np.ndarray, width: float) -> np.ndarray:
    """A binary digit (longer side L) of stroke width `width` with MNIST_STROKE instead:
    r = L * (MNIST_STROKE - width) / (2 * L - 2 * MNIST_STROKE) steps of `dilate` (erosion
    when negative), rounded, within +-MAX_ADJUST, since after r steps the width is width + 2r
    and the longer side L + 2r. Returns the result cropped to its ink."""
    side = max(stroke.shape)
    steps = int(np.clip(round(side * (MNIST_STROKE - width) / (2 * side - 2 * MNIST_STROKE)), -MAX_ADJUST, MAX_ADJUST))
    if steps > 0:
        stroke = dilate(np.pad(stroke, steps, constant_values=False), steps)
    elif steps < 0:
        thinner = dilate(stroke, -steps, grow=False)
        stroke = thinner if thinner.any() else stroke
    rows, cols = np.flatnonzero(stroke.any(1)), np.flatnonzero(stroke.any(0))
    return stroke[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def fit_box(image: np.ndarray, box: int) -> np.ndarray:
    """An image of the digit (0..1) resized so its longer side is `box` pixels, aspect ratio
    kept (`resample`: area averaging when shrinking, which anti-aliases a binary digit as
    MNIST did), as float 0..255."""
    height, width = image.shape
    scale = box / max(height, width)
    size = (max(1, int(round(height * scale))), max(1, int(round(width * scale))))
    return np.clip(resample(image, *size) * 255.0, 0, 255)


def center_of_mass_pad(digit: np.ndarray) -> np.ndarray:
    """Places `digit` in a 28x28 canvas so that its centre of mass is at the centre: the
    offset is round(13.5 - centre) per axis (halves away from zero... as numpy rounds: to
    even), kept inside the canvas; values rounded to uint8."""
    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    mass = float(digit.sum())
    ys, xs = np.indices(digit.shape)
    cy = float((ys * digit).sum()) / mass if mass else digit.shape[0] / 2
    cx = float((xs * digit).sum()) / mass if mass else digit.shape[1] / 2
    top = int(round((MNIST_SIZE - 1) / 2 - cy))
    left = int(round((MNIST_SIZE - 1) / 2 - cx))
    top = min(max(top, 0), MNIST_SIZE - digit.shape[0])
    left = min(max(left, 0), MNIST_SIZE - digit.shape[1])
    canvas[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return np.round(canvas).astype(np.uint8)
