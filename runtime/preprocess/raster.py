"""Operations on 2-D numpy images that `runtime.preprocess.digits` is built from, each defined exactly
(its rule in its docstring) so that another implementation, the web page's
`web/raster.js`, can reproduce it bit for bit: percentiles by rank, block means, separable
running max/min filters and the closings and openings made of them, an area-averaging
resampler, binary dilation, a stroke width estimate and 8-connected components. Plain numpy:
no scipy or OpenCV on a device.
"""

from __future__ import annotations

import numpy as np


def percentile(values: np.ndarray, q: float) -> float:
    """The value at rank floor(q * (n - 1)) of the sorted values (no interpolation).
    (np.median/np.percentile would import numpy.ma, ~8 ms of start-up.)"""
    flat = np.asarray(values).ravel()
    rank = int(q * (len(flat) - 1))
    return float(np.partition(flat, rank)[rank])


def reduce_blocks(gray: np.ndarray, side: int) -> np.ndarray:
    """Block means that bring the longer side to at most `side`: k = ceil(longer side / side),
    blocks of min(k, height) x min(k, width) pixels (a side shorter than k is one block high
    or wide, so the result is never larger than side x side, whatever the aspect ratio); the
    last rows and columns that do not fill a block are dropped. k = 1 returns the image
    unchanged. Each block row is summed along x (float32, numpy's pairwise sum), those sums
    are added row after row in order, then divided by the block's area."""
    k = -(-max(gray.shape) // side)
    if k <= 1:
        return gray
    bh, bw = min(k, gray.shape[0]), min(k, gray.shape[1])
    h, w = gray.shape[0] // bh, gray.shape[1] // bw
    rows = gray[: h * bh, : w * bw].reshape(h * bh, w, bw).sum(axis=2, dtype=np.float32).reshape(h, bh, w)
    total = rows[:, 0].copy()
    for j in range(1, bh):  # in order: numpy's own sum over this axis may pair them up (when w is 1)
        total += rows[:, j]
    return total / np.float32(bh * bw)


def box_mean3(image: np.ndarray) -> np.ndarray:
    """3x3 mean; at the border, the mean of the pixels that exist."""
    padded = np.pad(image, 1)
    rows = padded[:-2] + padded[1:-1] + padded[2:]
    total = rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]
    count_y = np.full(image.shape[0], 3.0, np.float32)
    count_x = np.full(image.shape[1], 3.0, np.float32)
    count_y[0] -= 1  # twice for a one-pixel image: only the pixel itself exists
    count_y[-1] -= 1
    count_x[0] -= 1
    count_x[-1] -= 1
    return total / (count_y[:, np.newaxis] * count_x[np.newaxis, :])


def running_extreme(image: np.ndarray, window: int, axis: int, take_max: bool) -> np.ndarray:
    """Max (or min) over a centred window of `window` (odd) pixels along `axis`; the window is
    cut at the image border. van Herk / Gil-Werman: running extremes within blocks of
    `window`, forward and backward, combined, so the cost does not grow with the window."""
    a = np.moveaxis(image, axis, -1)
    n = a.shape[-1]
    r = window // 2
    fill = -np.inf if take_max else np.inf
    blocks = -(-(n + 2 * r) // window)
    padded = np.full(a.shape[:-1] + (blocks * window + window,), fill, dtype=np.float32)
    padded[..., r : r + n] = a
    op = np.maximum if take_max else np.minimum
    shaped = padded[..., : blocks * window].reshape(a.shape[:-1] + (blocks, window))
    forward = op.accumulate(shaped, axis=-1).reshape(a.shape[:-1] + (blocks * window,))
    backward = op.accumulate(shaped[..., ::-1], axis=-1)[..., ::-1].reshape(a.shape[:-1] + (blocks * window,))
    # The window [x, x + window - 1] of the padded row: backward[x] covers its part in x's
    # block, forward[x + window - 1] the part in the next block.
    out = op(backward[..., :n], forward[..., window - 1 : window - 1 + n])
    return np.moveaxis(out, -1, axis)


def closing(image: np.ndarray, window: int) -> np.ndarray:
    """Grey-level closing with a `window` x `window` square: a max filter, then a min filter,
    on the image extended by window // 2 pixels on every side with copies of its edge pixels
    (so light that falls off towards the edge is followed exactly, while a stroke along the
    edge, up to window // 2 thick, still counts as a mark). Dark marks narrower than the
    window vanish; larger dark regions and smooth light keep their shape and edges."""
    return _filter_pair(image, window, max_first=True)


def opening(image: np.ndarray, window: int) -> np.ndarray:
    """Grey-level opening: a min filter, then a max filter, edges extended as in `closing`
    (light marks narrower than the window vanish)."""
    return _filter_pair(image, window, max_first=False)


def _filter_pair(image: np.ndarray, window: int, max_first: bool) -> np.ndarray:
    """A `window` x `window` max (or min) filter, then the other, on the image extended by
    copies of its edge pixels, cropped back to the image."""
    r = window // 2
    out = np.pad(image, r, mode="edge")
    for take_max in (max_first, not max_first):
        out = running_extreme(running_extreme(out, window, 0, take_max), window, 1, take_max)
    return out[r : r + image.shape[0], r : r + image.shape[1]]


def resample_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of a 1-D resampling. Shrinking (n_out <= n_in) averages areas:
    output pixel j covers input [j*s, (j+1)*s) with s = n_in / n_out, each input pixel i
    weighted by the length of [i, i+1) inside it, / s. Enlarging is linear interpolation at
    x = (j + 0.5) / n_out * n_in - 0.5, clamped to [0, n_in - 1]."""
    if n_out <= n_in:
        s = n_in / n_out
        lo = np.arange(n_out)[:, np.newaxis] * s
        i = np.arange(n_in)[np.newaxis, :]
        return np.clip(np.minimum(lo + s, i + 1) - np.maximum(lo, i), 0, None) / s
    weights = np.zeros((n_out, n_in), dtype=np.float64)
    x = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    i0 = np.floor(x).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = x - i0
    weights[np.arange(n_out), i0] += 1 - frac
    weights[np.arange(n_out), i1] += frac
    return weights


def resample(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Separable resampling with `resample_weights`: along columns, then along rows. Each
    output pixel sums only the input pixels with a weight (no matrix product: no BLAS threads)."""
    out = _resample_axis(image.astype(np.float32), height, 0)
    return _resample_axis(out, width, 1)


def _resample_axis(image: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    weights = resample_weights(image.shape[axis], n_out).astype(np.float32)
    taps = int((weights > 0).sum(axis=1).max())
    first = np.argmax(weights > 0, axis=1)
    index = np.minimum(first[:, np.newaxis] + np.arange(taps), image.shape[axis] - 1)
    tap_weights = np.take_along_axis(weights, index, axis=1)
    tap_weights[first[:, np.newaxis] + np.arange(taps) >= image.shape[axis]] = 0
    out = np.zeros((n_out, image.shape[1]) if axis == 0 else (image.shape[0], n_out), np.float32)
    for t in range(taps):
        if axis == 0:
            out += tap_weights[:, t, np.newaxis] * image[index[:, t], :]
        else:
            out += tap_weights[np.newaxis, :, t] * image[:, index[:, t]]
    return out


def resample_max(binary: np.ndarray, height: int, width: int) -> np.ndarray:
    """Shrinks a binary image: output pixel j along an axis is the OR of input pixels
    floor(j * s) .. ceil((j + 1) * s) - 1, s = n_in / n_out (rows, then columns)."""
    out = binary
    for axis, n_out in ((0, height), (1, width)):
        n_in = out.shape[axis]
        s = n_in / n_out
        starts = np.floor(np.arange(n_out) * s).astype(int)
        stops = np.minimum(np.ceil((np.arange(n_out) + 1) * s).astype(int), n_in)
        cells = []
        for lo, hi in zip(starts, stops):
            part = out[lo:hi] if axis == 0 else out[:, lo:hi]
            cells.append(part.any(axis=axis))
        out = np.stack(cells, axis=axis)
    return out


def dilate(binary: np.ndarray, steps: int, grow: bool = True) -> np.ndarray:
    """`steps` dilations (or erosions) by one pixel, alternating a 3x3 square and a plus
    sign, so a dot grows into an octagon close to a disc. Outside the image is background."""
    out = binary.copy()
    for step in range(steps):
        padded = np.pad(out, 1, constant_values=False)
        h, w = out.shape
        shifts = [(dy, dx) for dy in range(3) for dx in range(3)]
        if step % 2:
            shifts = [(0, 1), (1, 0), (1, 1), (1, 2), (2, 1)]
        views = [padded[dy : dy + h, dx : dx + w] for dy, dx in shifts]
        out = np.logical_or.reduce(views) if grow else np.logical_and.reduce(views)
    return out


def stroke_width(binary: np.ndarray) -> float:
    """Mean stroke width estimate 2 * area / perimeter, the perimeter counted as the number of
    pixel edges between ink and background (4-neighbours; outside the image is background).
    For a long stroke of width w it gives about w (exactly w for a straight horizontal one)."""
    area = int(binary.sum())
    if area == 0:
        return 0.0
    padded = np.pad(binary, 1, constant_values=False)
    edges = int((padded[1:] != padded[:-1]).sum() + (padded[:, 1:] != padded[:, :-1]).sum())
    return 2.0 * area / edges


def label_components(mask: np.ndarray):
    """8-connected components: (labels int32 with 0 for background and 1..n, n). Labels are
    numbered by each component's first pixel in row-major order.

    Rows are cut into runs of ink; runs in adjacent rows whose column ranges touch or
    overlap diagonally (start_b <= end_a and start_a <= end_b, ends inclusive + 1) are
    joined; joined runs share the smallest run index (label propagation with pointer
    jumping until nothing changes)."""
    h, w = mask.shape
    padded = np.pad(mask, ((0, 0), (1, 1)), constant_values=False).astype(np.int8)
    change = np.diff(padded, axis=1)
    row, start = np.nonzero(change == 1)
    _, end = np.nonzero(change == -1)  # exclusive; same order as starts (row-major)
    n = len(row)
    if n == 0:
        return np.zeros((h, w), np.int32), 0
    # For each run a in row y, the runs b in row y + 1 with start_b <= end_a and end_b >= start_a.
    key_start = row.astype(np.int64) * (w + 2) + start
    key_end = row.astype(np.int64) * (w + 2) + end
    first = np.searchsorted(key_end, (row + 1).astype(np.int64) * (w + 2) + start, side="left")
    last = np.searchsorted(key_start, (row + 1).astype(np.int64) * (w + 2) + end, side="right")
    counts = np.maximum(last - first, 0)
    a = np.repeat(np.arange(n), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    b = np.repeat(first, counts) + offsets
    parent = np.arange(n)
    while True:
        low = np.minimum(parent[a], parent[b])
        changed = (parent[a] != low) | (parent[b] != low)
        np.minimum.at(parent, a, low)
        np.minimum.at(parent, b, low)
        parent = parent[parent]
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
        if not changed.any():
            break
    roots, run_label = np.unique(parent, return_inverse=True)
    labels = np.zeros((h, w), np.int32)
    lengths = end - start
    flat_start = row * w + start
    idx = np.repeat(flat_start, lengths) + (np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    labels.ravel()[idx] = np.repeat(run_label + 1, lengths)
    return labels, len(roots)
