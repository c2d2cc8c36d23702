"""Photo-like images of real MNIST digits, made by the tests.

Two generators:
- `digit_photo`: the first, simple one: dark ink on light, noisy, unevenly lit paper,
  several times larger than 28x28 and off-centre (grayscale).
- `render_photo(image, style, rng)`: a phone photo of the digit written on a page, with
  every variation independent and named in `PhotoStyle`: size, pen (the digit's own MNIST
  stroke, or its centre line redrawn with a pen of any width), ink and paper colour, paper
  texture and sensor noise, uneven light, vignetting, a shadow, a dark table edge or a
  dark border, ruled or squared paper, rotation, blur, JPEG compression, a second digit.

`random_style(rng, split)` draws a style from one of two families of settings: "tune"
(the settings the normalisation was developed on) and "held-out" (other colours, paper,
sizes, lighting shapes and pen widths, kept aside to check that it was not tuned to the
first). `case_style(case, rng)` gives the single-degradation cases the tests name.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def digit_photo(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 grayscale photo of one MNIST image (light-on-dark 28x28)."""
    scale = int(rng.integers(4, 9))
    big = Image.fromarray(image).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    ink = np.asarray(big, np.float32) / 255
    height, width = int(rng.integers(300, 420)), int(rng.integers(300, 480))
    light = np.linspace(0, rng.uniform(-25, 25), width)[np.newaxis, :]
    paper = rng.uniform(190, 235) + rng.normal(0, 6, (height, width)) + light
    y = int(rng.integers(0, height - ink.shape[0]))
    x = int(rng.integers(0, width - ink.shape[1]))
    region = paper[y : y + ink.shape[0], x : x + ink.shape[1]]
    paper[y : y + ink.shape[0], x : x + ink.shape[1]] = region * (1 - ink) + rng.uniform(20, 60) * ink
    return np.clip(paper, 0, 255).astype(np.uint8)


def naive_resize(photo: np.ndarray) -> np.ndarray:
    """What a user would get by resizing the whole photo to 28x28."""
    return np.asarray(Image.fromarray(photo).resize((28, 28), Image.Resampling.BILINEAR))


def write_clear_photos(reference, folder, count: int = 5, seed: int = 3) -> dict:
    """JPEG photos of the first `count` test digits the Keras model is sure of (> 95%):
    {path: expected label}."""
    rng = np.random.default_rng(seed)
    sure = (reference.probs.max(1) > 0.95) & (reference.probs.argmax(1) == reference.labels)
    expected = {}
    for i in np.flatnonzero(sure)[:count]:
        path = folder / f"photo{i}.jpg"
        Image.fromarray(digit_photo(reference.images[i], rng)).save(path, quality=92)
        expected[str(path)] = str(reference.labels[i])
    assert len(expected) == count
    return expected


@dataclass(frozen=True)
class PhotoStyle:
    """How one photo is made. Lengths are in pixels of the photo; strengths 0 mean 'none'."""

    height: int = 800
    width: int = 600
    digit_height: float = 0.3
    """Height of MNIST's 20-pixel digit box, as a share of the photo's height."""
    center: tuple = (0.5, 0.5)
    """Where the digit box's centre lies, (y, x) as shares of the photo."""
    pen_width: Optional[float] = None
    """None: the digit's own MNIST stroke, scaled; else its centre line redrawn with this pen."""
    rotation: float = 0.0
    """Degrees, counter-clockwise."""
    ink: tuple = (25, 25, 30)
    """RGB of the ink at full strength."""
    ink_strength: float = 1.0
    """1: the ink colour; less: lighter (a pencil, a pen running dry)."""
    paper: tuple = (235, 232, 225)
    texture: float = 0.0
    """Standard deviation of the paper's blotchy brightness, as a share."""
    noise: float = 3.0
    """Standard deviation of sensor noise, 0..255."""
    gradient: float = 0.0
    """Light falling off across the page: the darker side gets (1 - gradient) of the light."""
    gradient_angle: float = 0.0
    vignette: float = 0.0
    """Corners get (1 - vignette) of the light at the centre."""
    shadow: float = 0.0
    """A shadow over part of the page keeps (1 - shadow) of the light."""
    shadow_softness: float = 0.05
    """Width of the shadow's edge, as a share of the photo's diagonal."""
    shadow_angle: float = 0.0
    shadow_offset: float = 0.3
    """How far from the centre the shadow's edge lies, as a share of the diagonal (negative: over the centre)."""
    table_edge: float = 0.0
    """Width of a dark table edge on one side, as a share of the photo's width."""
    table_side: str = "left"
    border: float = 0.0
    """Width of a dark border on every side, as a share of the photo's shorter side."""
    table_colour: tuple = (45, 35, 30)
    ruled: float = 0.0
    """Spacing of ruled lines as a share of the photo's height (0: plain paper)."""
    ruled_colour: tuple = (150, 180, 225)
    ruled_width: float = 2.0
    squared: bool = False
    """Squared paper: vertical lines too."""
    margin_line: bool = False
    """A red margin line left of the digit."""
    blur: float = 0.0
    """Defocus: radius of a box blur applied twice, in pixels."""
    jpeg: Optional[int] = None
    """JPEG quality the photo is compressed with (None: not compressed)."""
    second_digit: bool = False
    """A second digit written beside the first (the photo then holds two digits)."""
    second_gap: float = 1.1
    """Distance between the two digits' centres, in digit heights."""


def render_photo(image: np.ndarray, style: PhotoStyle, rng: np.random.Generator,
                 second: Optional[np.ndarray] = None) -> np.ndarray:
    """uint8 RGB photo (height, width, 3) of the MNIST image (light-on-dark 28x28) as `style` says.
    With `style.second_digit`, `second` is written beside it."""
    h, w = style.height, style.width
    box = style.digit_height * h
    page = _paper(style, rng)
    _draw_lines(page, style)
    cy, cx = style.center[0] * h, style.center[1] * w
    digits = [(image, cx)]
    if style.second_digit:
        if second is None:
            raise ValueError("second: style.second_digit needs a second MNIST image")
        gap = box * style.second_gap
        digits = [(image, cx - gap / 2), (second, cx + gap / 2)]
    for img, x in digits:
        alpha, (top, left) = _digit_alpha(img, box, style, cy, x)
        _composite(page, alpha * style.ink_strength, top, left, style.ink)
    _table(page, style)
    page *= _light(style)[..., np.newaxis]
    if style.blur > 0:
        page = _box_blur(page, int(round(style.blur)))
    if style.noise:
        page += (style.noise * rng.standard_normal(page.shape[:2], dtype=np.float32))[..., np.newaxis]
    photo = np.clip(np.round(page), 0, 255).astype(np.uint8)
    if style.jpeg is not None:
        buffer = io.BytesIO()
        Image.fromarray(photo).save(buffer, format="JPEG", quality=style.jpeg)
        photo = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return photo


def _paper(style: PhotoStyle, rng) -> np.ndarray:
    h, w = style.height, style.width
    page = np.empty((h, w, 3), np.float32)
    page[:] = np.asarray(style.paper, np.float32)
    if style.texture > 0:  # blotches a few dozen pixels across, and fibres
        coarse = rng.standard_normal((h // 40 + 2, w // 40 + 2), dtype=np.float32)
        blotch = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC))
        fibre = 0.5 * rng.standard_normal((h, w), dtype=np.float32)
        page *= (1 + style.texture * (blotch + fibre))[..., np.newaxis]
    return page


def _draw_lines(page: np.ndarray, style: PhotoStyle) -> None:
    h, w = page.shape[:2]
    if style.ruled <= 0 and not style.margin_line:
        return
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    width = max(1, int(round(style.ruled_width)))
    if style.ruled > 0:
        step = style.ruled * h
        for k in range(int(h / step) + 1):
            y = (k + 0.6) * step
            draw.line([(0, y), (w, y)], fill=255, width=width)
            if style.squared:
                draw.line([(y * w / h, 0), (y * w / h, h)], fill=255, width=width)
        if style.squared:
            for k in range(int(w / step) + 1):
                x = (k + 0.6) * step
                draw.line([(x, 0), (x, h)], fill=255, width=width)
    line = np.asarray(mask, np.float32)[..., np.newaxis] / 255
    page *= 1 - line * (1 - np.asarray(style.ruled_colour, np.float32) / 255)
    if style.margin_line:
        x = int(max(2, (style.center[1] - style.digit_height * style.height / style.width * 0.9) * w))
        page[:, max(0, x - width) : x + width] *= np.asarray([0.95, 0.45, 0.45], np.float32)


def _digit_alpha(image: np.ndarray, box: float, style: PhotoStyle, cy: float, cx: float):
    """Ink coverage 0..1 of the digit and where its top-left corner goes."""
    scale = box / 20  # photo pixels per MNIST pixel
    size = max(8, int(round(28 * scale)))
    if style.pen_width is None:
        field = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC), np.float32) / 255
        alpha = np.clip((field - 0.3) / 0.3, 0, 1)  # MNIST's stroke with a crisp pen edge
        if style.rotation:
            alpha = np.asarray(Image.fromarray(alpha).rotate(style.rotation, Image.Resampling.BILINEAR, expand=True))
    else:
        alpha = _pen_alpha(image, size, style.pen_width, style.rotation)
    top = int(round(cy - alpha.shape[0] / 2))
    left = int(round(cx - alpha.shape[1] / 2))
    return np.clip(alpha, 0, 1), (top, left)


def _pen_alpha(image: np.ndarray, size: int, pen: float, rotation: float) -> np.ndarray:
    """The digit's centre line (Zhang-Suen skeleton at 4x MNIST) redrawn with a round pen of
    `pen` pixels, drawn at 3x and averaged down for anti-aliased edges."""
    fine = 4
    field = np.asarray(Image.fromarray(image).resize((28 * fine, 28 * fine), Image.Resampling.BICUBIC), np.float32)
    skeleton = _skeleton(field > 100)
    ys, xs = np.nonzero(skeleton)
    ss = 3
    side = int(size * 1.5) * ss
    unit = size / (28 * fine) * ss  # supersampled pixels per skeleton pixel
    theta = np.deg2rad(rotation)
    cos, sin = np.cos(theta), np.sin(theta)

    def place(y, x):
        dy, dx = (y - 28 * fine / 2) * unit, (x - 28 * fine / 2) * unit
        return (side / 2 + dx * cos + dy * sin, side / 2 - dx * sin + dy * cos)

    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    radius = pen * ss / 2
    points = set(zip(ys.tolist(), xs.tolist()))
    for y, x in points:
        px, py = place(y, x)
        draw.ellipse([px - radius, py - radius, px + radius, py + radius], fill=255)
        for ny, nx in ((y, x + 1), (y + 1, x - 1), (y + 1, x), (y + 1, x + 1)):
            if (ny, nx) in points:
                draw.line([place(y, x), place(ny, nx)], fill=255, width=max(1, int(round(pen * ss))))
    small = canvas.resize((side // ss, side // ss), Image.Resampling.BOX)
    return np.asarray(small, np.float32) / 255


def _skeleton(binary: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning (1984) of a boolean image, vectorised."""
    img = np.pad(binary.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = img
            n = [np.roll(p, shift, axis=(0, 1)) for shift in
                 ((1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1))]
            # neighbours P2..P9 clockwise from north
            p2, p3, p4, p5, p6, p7, p8, p9 = n
            count = sum(n)
            seq = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            transitions = sum(((seq[i] == 0) & (seq[i + 1] == 1)).astype(np.uint8) for i in range(8))
            if step == 0:
                cond = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                cond = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (p == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & cond
            if remove.any():
                img = img.copy()
                img[remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def _composite(page: np.ndarray, alpha: np.ndarray, top: int, left: int, ink) -> None:
    """Ink absorbs light: each channel is multiplied by 1 - alpha * (1 - ink/255)."""
    h, w = page.shape[:2]
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + alpha.shape[0], h), min(left + alpha.shape[1], w)
    if y1 <= y0 or x1 <= x0:
        return
    a = alpha[y0 - top : y1 - top, x0 - left : x1 - left, np.newaxis]
    page[y0:y1, x0:x1] *= 1 - a * (1 - np.asarray(ink, np.float32) / 255)


def _table(page: np.ndarray, style: PhotoStyle) -> None:
    """The dark table around or beside the page (the page's edge slightly slanted)."""
    h, w = page.shape[:2]
    if style.table_edge <= 0 and style.border <= 0:
        return
    ys = np.arange(h, dtype=np.float32)[:, np.newaxis]
    xs = np.arange(w, dtype=np.float32)[np.newaxis, :]
    outside = np.zeros((h, w), bool)
    if style.table_edge > 0:
        e = style.table_edge * w
        slant = 0.03 * (ys / h - 0.5) * w
        if style.table_side == "left":
            outside |= xs < e + slant
        elif style.table_side == "right":
            outside |= xs > w - e + slant
        elif style.table_side == "top":
            outside |= ys < e * h / w + 0.03 * (xs / w - 0.5) * h
        else:
            outside |= ys > h - e * h / w + 0.03 * (xs / w - 0.5) * h
    if style.border > 0:
        b = style.border * min(h, w)
        outside |= (xs < b) | (ys < b) | (xs > w - b) | (ys > h - b)
    page[outside] = np.asarray(style.table_colour, np.float32)


def _light(style: PhotoStyle) -> np.ndarray:
    """Light reaching each pixel, 1 at best: gradient x vignette x shadow."""
    h, w = style.height, style.width
    ys = np.arange(h, dtype=np.float32)[:, np.newaxis]
    xs = np.arange(w, dtype=np.float32)[np.newaxis, :]
    u, v = (xs - w / 2) / max(h, w), (ys - h / 2) / max(h, w)  # -0.5..0.5
    light = np.ones((h, w), np.float32)
    if style.gradient:
        a = np.deg2rad(style.gradient_angle)
        t = u * np.cos(a) + v * np.sin(a)
        light *= 1 - style.gradient * np.clip(t + 0.5, 0, 1)
    if style.vignette:
        r2 = (u**2 + v**2) / ((w / max(h, w) / 2) ** 2 + (h / max(h, w) / 2) ** 2)
        light *= 1 - style.vignette * np.clip(r2, 0, 1) ** 1.5
    if style.shadow:
        a = np.deg2rad(style.shadow_angle)
        t = u * np.cos(a) + v * np.sin(a) - style.shadow_offset
        soft = max(style.shadow_softness, 1e-3)
        light *= 1 - style.shadow / (1 + np.exp(-t / soft))
    return light


def _box_blur(page: np.ndarray, radius: int) -> np.ndarray:
    """Defocus: Pillow's box blur of `radius`, applied twice."""
    image = Image.fromarray(np.clip(np.round(page), 0, 255).astype(np.uint8))
    for _ in range(2):
        image = image.filter(ImageFilter.BoxBlur(radius))
    return np.asarray(image, np.float32).copy()


# ---- styles ----------------------------------------------------------------------------

CASES = ("clean", "vignette", "dark_edge", "dark_border", "shadow", "gradient", "thin_pen", "thick_pen", "pencil",
         "blue_ruled", "rotation", "small", "jpeg", "two_digits")
"""Single degradations, each on the same clean page (`case_style`)."""


def clean_style(rng: np.random.Generator) -> PhotoStyle:
    """A plain photo: dark pen on white paper, even light, a little noise; size and place vary."""
    h = int(rng.integers(640, 900))
    w = int(h * rng.uniform(0.7, 0.8))
    return PhotoStyle(
        height=h, width=w, digit_height=float(rng.uniform(0.25, 0.4)),
        center=(float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.4, 0.6))),
        noise=float(rng.uniform(2, 4)), paper=tuple(int(c) for c in rng.integers(225, 245, 3)),
    )


def case_style(case: str, rng: np.random.Generator) -> PhotoStyle:
    """The clean style with one degradation, at a strength drawn from a fixed range."""
    base = clean_style(rng)
    if case == "clean":
        return base
    if case == "vignette":
        return replace(base, vignette=float(rng.uniform(0.45, 0.65)))
    if case == "dark_edge":
        return replace(base, table_edge=float(rng.uniform(0.05, 0.1)),
                       table_side=str(rng.choice(["left", "right", "top", "bottom"])))
    if case == "dark_border":
        return replace(base, border=float(rng.uniform(0.03, 0.08)))
    if case == "shadow":
        return replace(base, shadow=float(rng.uniform(0.4, 0.6)), shadow_softness=float(rng.uniform(0.01, 0.08)),
                       shadow_angle=float(rng.uniform(0, 360)), shadow_offset=float(rng.uniform(-0.15, 0.2)))
    if case == "gradient":
        return replace(base, gradient=float(rng.uniform(0.4, 0.6)), gradient_angle=float(rng.uniform(0, 360)))
    if case == "thin_pen":
        return replace(base, pen_width=float(rng.uniform(2.0, 4.0)))
    if case == "pencil":  # grey, light and thin
        return replace(base, ink=(90, 90, 95), ink_strength=float(rng.uniform(0.6, 0.8)),
                       pen_width=float(rng.uniform(1.5, 3.0)))
    if case == "thick_pen":
        return replace(base, pen_width=float(base.digit_height * base.height * rng.uniform(0.14, 0.2)))
    if case == "blue_ruled":
        return replace(base, ink=(30, 50, 150), pen_width=float(rng.uniform(3, 6)),
                       ruled=float(rng.uniform(0.06, 0.1)), ruled_width=float(rng.uniform(1, 3)))
    if case == "rotation":
        return replace(base, rotation=float(rng.choice([-1, 1]) * rng.uniform(10, 15)))
    if case == "small":
        return replace(base, digit_height=float(rng.uniform(0.1, 0.15)))
    if case == "jpeg":
        return replace(base, jpeg=int(rng.integers(30, 60)), noise=float(rng.uniform(4, 8)))
    if case == "two_digits":
        return replace(base, second_digit=True, digit_height=float(rng.uniform(0.2, 0.3)),
                       second_gap=float(rng.uniform(0.95, 1.3)))
    raise ValueError(f"case: got {case!r}, expected one of {', '.join(CASES)}")


SPLITS = ("tune", "held-out")


def random_style(rng: np.random.Generator, split: str = "tune") -> PhotoStyle:
    """A photo with several variations at once, each drawn independently.

    "tune" and "held-out" use different ranges and kinds: held-out has other photo sizes and
    digit sizes, green, red and pencil-grey inks, squared paper and margin lines, stronger and
    differently shaped light, thinner and thicker pens, blur and lower JPEG quality."""
    held = split == "held-out"
    if split not in SPLITS:
        raise ValueError(f"split: got {split!r}, expected one of {', '.join(SPLITS)}")

    def maybe(p):
        return bool(rng.random() < p)

    if held:
        h = int(rng.integers(480, 1400))
        w = int(h * rng.uniform(0.6, 1.4))
        digit = float(rng.uniform(0.12, 0.55))
        inks = [(20, 20, 20), (20, 90, 40), (150, 30, 30), (90, 90, 95), (40, 40, 170)]
        ink = inks[int(rng.integers(len(inks)))]
        strength = float(rng.uniform(0.55, 1.0))
        pen = None if maybe(0.35) else float(rng.uniform(1.2, 6.0) if maybe(0.6) else digit * h * rng.uniform(0.06, 0.2))
    else:
        h = int(rng.integers(600, 1000))
        w = int(h * rng.uniform(0.7, 0.8))
        digit = float(rng.uniform(0.2, 0.45))
        inks = [(25, 25, 30), (30, 50, 150), (40, 40, 40)]
        ink = inks[int(rng.integers(len(inks)))]
        strength = float(rng.uniform(0.8, 1.0))
        pen = None if maybe(0.5) else float(rng.uniform(2.0, 8.0))
    half = digit * h / 2 / w  # keep the digit on the page
    style = PhotoStyle(
        height=h, width=w, digit_height=digit,
        center=(float(rng.uniform(0.3, 0.7)), float(rng.uniform(max(0.25, half + 0.1), min(0.75, 0.9 - half))))
        if half < 0.35 else (0.5, 0.5),
        pen_width=pen, ink=ink, ink_strength=strength,
        rotation=float(rng.uniform(-15, 15)) if maybe(0.5) else 0.0,
        paper=tuple(int(c) for c in rng.integers(200 if held else 220, 250, 3)),
        texture=float(rng.uniform(0, 0.06 if held else 0.03)),
        noise=float(rng.uniform(1, 10 if held else 6)),
    )
    changes = {}
    if maybe(0.4):
        changes.update(gradient=float(rng.uniform(0.2, 0.7 if held else 0.5)), gradient_angle=float(rng.uniform(0, 360)))
    if maybe(0.4):
        changes.update(vignette=float(rng.uniform(0.3, 0.75 if held else 0.6)))
    if maybe(0.3):
        changes.update(shadow=float(rng.uniform(0.3, 0.7 if held else 0.55)),
                       shadow_softness=float(rng.uniform(0.005 if held else 0.02, 0.1)),
                       shadow_angle=float(rng.uniform(0, 360)), shadow_offset=float(rng.uniform(-0.2, 0.3)))
    if maybe(0.3):
        if maybe(0.5):
            changes.update(table_edge=float(rng.uniform(0.03, 0.12)),
                           table_side=str(rng.choice(["left", "right", "top", "bottom"])))
        else:
            changes.update(border=float(rng.uniform(0.02, 0.08)))
        changes.update(table_colour=tuple(int(c) for c in rng.integers(10, 90 if held else 70, 3)))
    if maybe(0.35):
        changes.update(ruled=float(rng.uniform(0.04, 0.1)), ruled_width=float(rng.uniform(1, 3)),
                       squared=held and maybe(0.5), margin_line=held and maybe(0.3),
                       ruled_colour=(170, 170, 175) if held and maybe(0.5) else (150, 180, 225))
    if held and maybe(0.3):
        changes.update(blur=float(rng.integers(1, 3)))
    if maybe(0.5):
        changes.update(jpeg=int(rng.integers(25 if held else 50, 95)))
    return replace(style, **changes)


EXAMPLES = ("vignette", "dark_edge", "shadow", "thin_pen", "blue_ruled", "rotation", "two_digits")


def write_examples(reference, folder, seed: int = 5) -> dict:
    """One JPEG per case in EXAMPLES, each of another reference digit the Keras model is sure
    of; `hard.jpg`, clean, of the first digit it is unsure of (40-60%); and a text file named
    like an image: {path: expected label, or None for no single digit}."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sure = np.flatnonzero((reference.probs.max(1) > 0.95) & (reference.probs.argmax(1) == reference.labels))
    expected = {}
    for case, i, j in zip(EXAMPLES, sure, sure[len(EXAMPLES):]):
        path = folder / f"{case}.jpg"
        Image.fromarray(render_photo(reference.images[i], case_style(case, rng), rng, second=reference.images[j])).save(path, quality=90)
        expected[str(path)] = None if case == "two_digits" else str(reference.labels[i])
    confidence = reference.probs.max(1)
    hard = int(np.flatnonzero((confidence > 0.4) & (confidence < 0.6))[0])
    Image.fromarray(render_photo(reference.images[hard], case_style("clean", rng), rng)).save(folder / "hard.jpg", quality=90)
    expected[str(folder / "hard.jpg")] = str(reference.labels[hard])
    (folder / "notes.png").write_text("not an image\n")
    expected[str(folder / "notes.png")] = None
    return expected


if __name__ == "__main__":
    import argparse
    import sys
    from pathlib import Path

    parser = argparse.ArgumentParser(description="Write example photos of reference digits (one per case) to try predict on.")
    parser.add_argument("folder")
    parser.add_argument("--models", default="models", help="folder with reference.npz (default: models)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from runtime.store.bundles import load_reference

    for path, label in write_examples(load_reference(args.models), args.folder).items():
        print(f"{path}: {label if label is not None else 'no single digit'}")
