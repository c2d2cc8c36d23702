"""Training-time augmentation (`python -m train --augment`): every epoch sees each training
digit moved, turned, resized and written with a thinner or thicker pen, so the model learns
handwriting that MNIST's own normalisation did not make uniform.

A tf.data pipeline of stateless random ops: the seed, the epoch and the batch number fix
every draw, so the same seed gives the same weights. It works on (N, 28, 28) images in 0..1
and does not care what model it feeds (the MLP or a small CNN).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentOptions:
    """Ranges of the random changes; each digit draws every one independently and uniformly."""

    max_rotation: float = 15.0
    """Degrees either way, about the image centre."""
    min_scale: float = 0.85
    max_scale: float = 1.15
    """Size relative to MNIST's 20-pixel box."""
    max_shift: float = 2.5
    """Pixels in x and y, each way (normalising a photo centres by mass, to within a pixel or two)."""
    min_thickness: float = -0.5
    max_thickness: float = 1.0
    """Pen: -1 erodes every stroke by a pixel on each side, +1 dilates by one, values between blend."""

    def to_json(self) -> dict:
        return asdict(self)


def augmented_dataset(x, y, batch_size: int, epochs: int, seed: int, options: AugmentOptions = AugmentOptions()):
    """(tf.data.Dataset over all epochs, steps per epoch) for `model.fit(..., steps_per_epoch=...)`.

    Epoch e visits the images in a stateless shuffle seeded (seed, e); batch b of epoch e
    draws its changes from seed (seed, e * batches + b + 1)."""
    import tensorflow as tf

    x = tf.constant(np.asarray(x, np.float32))
    y = tf.constant(np.asarray(y))
    count = int(x.shape[0])
    batches = math.ceil(count / batch_size)

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(tf.range(count), seed=tf.stack([tf.cast(seed, tf.int64), e]))
        indices = tf.data.Dataset.from_tensor_slices(order).batch(batch_size).enumerate()

        def make_batch(b, index):
            batch_seed = tf.stack([tf.cast(seed, tf.int64), e * batches + b + 1])
            return augment_batch(tf.gather(x, index), batch_seed, options), tf.gather(y, index)

        return indices.map(make_batch)

    dataset = tf.data.Dataset.range(epochs).flat_map(epoch).prefetch(2)
    return dataset, batches


def augment_batch(images, seed, options: AugmentOptions = AugmentOptions()):
    """float32 (B, 28, 28) in 0..1 -> the same, each image changed by its own random draw."""
    import tensorflow as tf

    count = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    draws = tf.random.stateless_uniform(tf.stack([count, 5]), seed=seed)
    angle = (draws[:, 0] * 2 - 1) * (options.max_rotation * math.pi / 180)
    scale = options.min_scale + draws[:, 1] * (options.max_scale - options.min_scale)
    dx = (draws[:, 2] * 2 - 1) * options.max_shift
    dy = (draws[:, 3] * 2 - 1) * options.max_shift
    thickness = options.min_thickness + draws[:, 4] * (options.max_thickness - options.min_thickness)

    # Output pixel p comes from input c + R(-angle) (p - c - d) / scale, c the image centre.
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    a0, a1, b0, b1 = cos, sin, -sin, cos
    a2 = cx - a0 * (cx + dx) - a1 * (cy + dy)
    b2 = cy - b0 * (cx + dx) - b1 * (cy + dy)
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    moved = tf.raw_ops.ImageProjectiveTransformV3(
        images=images[..., tf.newaxis], transforms=transforms, output_shape=tf.constant([height, width]),
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")

    thicker = tf.nn.max_pool2d(moved, ksize=3, strides=1, padding="SAME")
    thinner = -tf.nn.max_pool2d(-moved, ksize=3, strides=1, padding="SAME")
    t = thickness[:, tf.newaxis, tf.newaxis, tf.newaxis]
    pen = moved + tf.nn.relu(t) * (thicker - moved) + tf.nn.relu(-t) * (thinner - moved)
    # A thinner pen is not a fainter one: the darkest stroke goes back to full ink, as in MNIST.
    brightest = tf.reduce_max(pen, axis=[1, 2, 3], keepdims=True)
    pen = pen / tf.maximum(brightest, 1e-3) * tf.reduce_max(moved, axis=[1, 2, 3], keepdims=True)
    return tf.clip_by_value(pen[..., 0], 0.0, 1.0)
