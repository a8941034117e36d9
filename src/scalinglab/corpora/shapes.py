"""``"shapes"``: noisy rectangles, an image source without end and with a known entropy.

Each document is a newline then an 8 x 8 image in raster order, one token per pixel
(the layout of the ``"images"`` corpus, so that its maps read these images too). An image
is drawn in three steps:

1. a rectangle, uniformly among all 1,296 axis-aligned rectangles of whole pixels in
   the 8 x 8 grid (36 choices of its rows times 36 of its columns);
2. its level and the background's, an ordered pair of distinct levels among
   ``pixel_levels``, uniformly;
3. noise: each pixel, independently, with probability ``noise`` takes a level drawn
   uniformly among all ``pixel_levels`` (it may draw the level it had).

Unlike the 1,797 digits, the source never runs dry: the largest run sees fresh images
only. And its entropy is known. For an image x, P(x) = sum over the templates t (a
rectangle and two levels) of P(t) prod_i P(x_i | t), with P(x_i | t) = 1 - noise +
noise / levels where x_i is the template's level and noise / levels elsewhere; it
depends on t only through the number of pixels where x agrees with t. The entropy of an
image, -E[ln P(x)], has no closed form, but ln P(x) is exact for any image, so its mean
over :data:`ENTROPY_SAMPLES` images drawn from a fixed seed estimates it, with a standard
error printed by :func:`image_entropy_nats`. The corpus's entropy rate is that entropy
spread over an image's 65 tokens (the newline, whose place is fixed, carries none).
"""

from __future__ import annotations

import functools

import numpy as np

from .base import CorpusConfig, CorpusKind, Parameter, choice, register
from .images import IMAGE_SIDE, image_tokens

SHAPE_LEVELS = (2, 4, 8)
"""Pixel levels a ``"shapes"`` corpus may have."""

ENTROPY_SAMPLES = 2000
"""Images whose exact ln P(x) is averaged for the entropy estimate."""


def _noise(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def rectangles() -> np.ndarray:
    """Every axis-aligned rectangle of whole pixels in the image, as (1296, 8, 8) bool masks."""
    spans = [(a, b) for a in range(IMAGE_SIDE) for b in range(a + 1, IMAGE_SIDE + 1)]
    lines = np.zeros((len(spans), IMAGE_SIDE), dtype=bool)
    for i, (a, b) in enumerate(spans):
        lines[i, a:b] = True
    return (lines[:, None, :, None] & lines[None, :, None, :]).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)


@functools.lru_cache(maxsize=4)
def templates(pixel_levels: int) -> np.ndarray:
    """Every noiseless image of the source: (n_templates, 64) levels, each template (a
    rectangle, its level, the background's level) once, so that they are equally likely."""
    masks = rectangles().reshape(-1, IMAGE_SIDE * IMAGE_SIDE)
    pairs = [(f, b) for f in range(pixel_levels) for b in range(pixel_levels) if f != b]
    out = np.concatenate([np.where(masks, f, b) for f, b in pairs]).astype(np.uint8)
    out.setflags(write=False)
    return out


def draw_images(n_images: int, pixel_levels: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``n_images`` images of the source, (n_images, 8, 8) levels."""
    chosen = templates(pixel_levels)[rng.integers(len(templates(pixel_levels)), size=n_images)]
    flipped = rng.random(chosen.shape) < noise
    levels = np.where(flipped, rng.integers(pixel_levels, size=chosen.shape), chosen)
    return levels.reshape(n_images, IMAGE_SIDE, IMAGE_SIDE).astype(np.uint8)


def log_probability(images: np.ndarray, pixel_levels: int, noise: float) -> np.ndarray:
    """The exact ln P(x) of each image (an (n, 8, 8) array of levels), in nats.

    ln P(x) = logsumexp_t [ln P(t) + m_t ln(1 - noise + noise/L) + (64 - m_t) ln(noise/L)],
    with m_t the number of pixels where x agrees with template t and P(t) uniform.
    """
    flat = np.asarray(images, dtype=np.int64).reshape(len(images), -1)
    every = templates(pixel_levels)
    one_hot = np.eye(pixel_levels, dtype=np.float32)
    # agreements[n, t] = sum_i [x_n,i == t_i]: a product of one-hot codes
    agreements = one_hot[flat].reshape(len(flat), -1) @ one_hot[every].reshape(len(every), -1).T
    same, other = np.log(1 - noise + noise / pixel_levels), np.log(noise / pixel_levels)
    log_joint = agreements.astype(np.float64) * (same - other) + flat.shape[1] * other - np.log(len(every))
    top = log_joint.max(axis=1)
    return top + np.log(np.exp(log_joint - top[:, None]).sum(axis=1))


@functools.lru_cache(maxsize=8)
def image_entropy_nats(pixel_levels: int, noise: float) -> tuple[float, float]:
    """The entropy of one image of the source, in nats, and the standard error of its estimate:
    the mean and standard error of -ln P(x) over :data:`ENTROPY_SAMPLES` images of a fixed seed."""
    images = draw_images(ENTROPY_SAMPLES, pixel_levels, noise, np.random.default_rng(2024))
    surprise = -log_probability(images, pixel_levels, noise)
    return float(surprise.mean()), float(surprise.std(ddof=1) / np.sqrt(len(surprise)))


def _entropy_rate(config: CorpusConfig) -> float:
    return image_entropy_nats(config.pixel_levels, config.noise)[0] / (IMAGE_SIDE * IMAGE_SIDE + 1)


def _documents(config: CorpusConfig) -> list[np.ndarray]:
    n_images = -(-config.n_tokens // (IMAGE_SIDE * IMAGE_SIDE + 1))
    images = draw_images(n_images, config.pixel_levels, config.noise, np.random.default_rng([config.seed, 7]))
    return [image_tokens(image) for image in images]


KIND = register(CorpusKind(
    name="shapes",
    title="noisy rectangles",
    parameters={
        "pixel_levels": Parameter(4, choice(*SHAPE_LEVELS), "levels each pixel may take"),
        "noise": Parameter(0.05, _noise, "probability that a pixel takes a uniformly random level"),
    },
    documents=_documents,
    entropy_rate_nats=_entropy_rate,
))
