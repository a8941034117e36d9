"""``"images"``: small images as pixel sequences, and the maps that read them.

The 1,797 handwritten digits (8 x 8 pixels, 17 grey levels) that ship inside
scikit-learn, read from its data file (nothing is downloaded). A document is a newline
then the 64 pixels in raster order (row by row), one token per pixel: grey level ``v``
in 0..16 is quantised to ``q = floor(v * pixel_levels / 17)`` and written as the byte
``ord("0") + q`` (:data:`PIXEL_LEVELS` lists the accepted ``pixel_levels``). The split is
by *source image*; each training image is also shifted by up to ``image_shift`` pixels
in each direction (blank pixels shifted in), ``(2 image_shift + 1)^2`` copies in shuffled
order, while validation images are used as they are. With the defaults: 1,617 training
images x 9 shifts = 945,945 tokens, 180 validation images = 11,700 tokens. ``n_tokens``
caps the whole corpus: when the shifted copies do not fit (``image_shift=2`` makes
2,627,625 training tokens), the training split keeps the first of them in shuffled
order, a random subset, and the validation split is kept whole.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path

import numpy as np

from .._checks import one_of
from .base import DOCUMENT_START, Corpus, CorpusConfig, CorpusKind, Parameter, choice, concatenate, integer_in, register

PIXEL_LEVELS = (2, 4, 8, 17)
"""Grey levels an ``"images"`` corpus may be quantised to (17: the digits' own levels)."""
MAX_IMAGE_SHIFT = 2
"""Largest ``image_shift`` (pixels) of the ``"images"`` corpus's augmentation."""

IMAGE_SIDE = 8
"""Side of the ``"images"`` corpus's digits, in pixels (64 pixels: 64 tokens an image)."""
_DIGIT_GREY_LEVELS = 17
_PIXEL_ZERO = ord("0")


def digit_images() -> np.ndarray:
    """scikit-learn's 1,797 handwritten digits, (1797, 8, 8) uint8 grey levels in 0..16.

    Read from the data file inside the installed package (without importing it);
    ``ValueError`` with the fix when scikit-learn is not installed.
    """
    return _digit_images().copy()


@functools.lru_cache(maxsize=1)
def _digit_images() -> np.ndarray:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("kind='images' needs scikit-learn's digits: pip install scikit-learn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    return table[:, :-1].reshape(-1, IMAGE_SIDE, IMAGE_SIDE).astype(np.uint8)


def quantise_pixels(grey: np.ndarray, pixel_levels: int) -> np.ndarray:
    """Grey levels 0..16 to ``pixel_levels`` levels: ``floor(v * pixel_levels / 17)``."""
    one_of("pixel_levels", pixel_levels, PIXEL_LEVELS)
    return (np.asarray(grey, dtype=np.int64) * pixel_levels // _DIGIT_GREY_LEVELS).astype(np.uint8)


def image_tokens(image: np.ndarray) -> np.ndarray:
    """One image's document: a newline, then its quantised pixels in raster order as bytes ``ord("0") + q``."""
    return np.concatenate([[DOCUMENT_START], _PIXEL_ZERO + np.asarray(image, dtype=np.uint8).ravel()]).astype(np.uint8)


def pixels_of(tokens: np.ndarray) -> np.ndarray:
    """The quantised pixel levels of pixel tokens (inverse of :func:`image_tokens` without its newline)."""
    return np.asarray(tokens, dtype=np.int64) - _PIXEL_ZERO


def images_of(tokens: np.ndarray) -> np.ndarray:
    """The images of an ``"images"`` token stream, as an (n, 8, 8) array of quantised levels.

    ``tokens`` is whole image documents concatenated (a split of the corpus): each is
    :func:`image_tokens`' newline and 64 pixels, so its length is a multiple of 65.
    """
    document = IMAGE_SIDE * IMAGE_SIDE + 1
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or len(tokens) % document or np.any(tokens[::document] != DOCUMENT_START):
        raise ValueError(
            f"tokens must be whole image documents (a newline and {document - 1} pixels each), "
            f"got {tokens.shape} tokens"
        )
    return pixels_of(tokens).reshape(-1, document)[:, 1:].reshape(-1, IMAGE_SIDE, IMAGE_SIDE)


def shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``image`` moved ``dy`` pixels down and ``dx`` right; pixels shifted in are blank (0)."""
    out = np.zeros_like(image)
    height, width = image.shape
    out[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = image[
        max(-dy, 0) : height - max(dy, 0), max(-dx, 0) : width - max(dx, 0)
    ]
    return out


def _make(config: CorpusConfig) -> Corpus:
    """Split source images into train and validation, then augment and shuffle the training ones."""
    images = quantise_pixels(_digit_images(), config.pixel_levels)
    order = np.random.default_rng([config.seed, 1]).permutation(len(images))
    n_val = max(1, round(config.val_fraction * len(images)))
    shifts = range(-config.image_shift, config.image_shift + 1)
    train = [image_tokens(shifted(images[i], dy, dx)) for i in np.sort(order[n_val:]) for dy in shifts for dx in shifts]
    train = [train[i] for i in np.random.default_rng([config.seed, 6]).permutation(len(train))]
    val = [image_tokens(images[i]) for i in np.sort(order[:n_val])]
    tokens_per_image = IMAGE_SIDE * IMAGE_SIDE + 1
    room = config.n_tokens // tokens_per_image - len(val)
    if room < 1:
        raise ValueError(
            f"n_tokens must be at least {(len(val) + 1) * tokens_per_image} for kind='images' "
            f"(the {len(val)} validation images and one training image), got {config.n_tokens}"
        )
    train_tokens, train_starts = concatenate(train[:room])
    val_tokens, val_starts = concatenate(val)
    name = f"handwritten digits ({config.pixel_levels} grey levels)"
    return Corpus(name, config, train_tokens, val_tokens, train_starts, val_starts, None)


def pixel_loss_map(loss_per_position_nats: np.ndarray | list[float]) -> np.ndarray:
    """The loss of each pixel of an image, as an 8 x 8 map (nats/token).

    ``loss_per_position_nats`` is the per-position loss of windows that start at an
    image's newline (as :func:`scalinglab.batches.evaluation_starts` places them on the
    ``"images"`` corpus): position ``t`` predicts pixel ``t`` in raster order, so the
    first 64 positions reshape into the picture's grid (row, column).
    """
    losses = np.asarray(loss_per_position_nats, dtype=float)
    pixels = IMAGE_SIDE * IMAGE_SIDE
    if losses.ndim != 1 or len(losses) < pixels:
        raise ValueError(
            f"loss_per_position_nats must be a 1-D sequence of at least {pixels} losses "
            f"(n_ctx >= {pixels}), got shape {losses.shape}"
        )
    return losses[:pixels].reshape(IMAGE_SIDE, IMAGE_SIDE)


def pixel_entropy_map(images: np.ndarray, pixel_levels: int) -> np.ndarray:
    """The entropy of each pixel's level over a set of images, as an 8 x 8 map (nats).

    ``H(i, j) = -sum_q p_ij(q) ln p_ij(q)``, with ``p_ij(q)`` the fraction of ``images``
    (an (n, 8, 8) array of levels ``0 .. pixel_levels - 1``) whose pixel (i, j) is ``q``.
    It is the loss of a model that knows which pixel it predicts but sees no context.
    """
    one_of("pixel_levels", pixel_levels, PIXEL_LEVELS)
    levels = np.asarray(images)
    if levels.ndim != 3 or levels.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE) or len(levels) == 0:
        raise ValueError(f"images must be a non-empty (n, {IMAGE_SIDE}, {IMAGE_SIDE}) array, got shape {levels.shape}")
    if levels.min() < 0 or levels.max() >= pixel_levels:
        raise ValueError(f"images must hold levels 0..{pixel_levels - 1}, got {levels.min()}..{levels.max()}")
    columns = levels.reshape(len(levels), -1).T
    frequencies = np.stack([np.bincount(column, minlength=pixel_levels) for column in columns]) / len(levels)
    logs = np.log(np.where(frequencies > 0, frequencies, 1.0))
    return -(frequencies * logs).sum(axis=1).reshape(IMAGE_SIDE, IMAGE_SIDE)


KIND = register(CorpusKind(
    name="images",
    title="handwritten digits",
    parameters={
        "pixel_levels": Parameter(17, choice(*PIXEL_LEVELS), "grey levels each pixel is quantised to"),
        "image_shift": Parameter(1, integer_in(0, MAX_IMAGE_SHIFT), "largest shift of the training copies, in pixels"),
    },
    make=_make,
    preflight=lambda config: _digit_images(),  # raises, with the fix, when scikit-learn is missing
))
