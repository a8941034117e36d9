"""The same laws on other kinds of data: four modalities behind one corpus interface.

A *modality* names a corpus of :mod:`scalinglab.data` set up as in the recorded
universality sweeps (``results/universality_ladder`` and ``results/universality_isoflop``)::

    config = modality_corpus("images")        # a CorpusConfig
    corpus = make_corpus(config)
    TOKEN_UNITS["images"]                      # what one token is

Every modality is a stream of byte tokens, so the same models, training loop and fits
apply unchanged; only what a token stands for differs.
"""

from __future__ import annotations

import numpy as np

from ._checks import one_of, positive_int
from .data import IMAGE_SIDE, PIXEL_LEVELS, CorpusConfig

MODALITIES = ("text", "code", "images", "arithmetic")
"""Names accepted by :func:`modality_corpus`."""

TOKEN_UNITS = {
    "text": "one byte of English prose (standard-library docstrings, UTF-8)",
    "code": "one byte of Python source (standard library, docstrings removed)",
    "images": "one pixel of an 8 x 8 handwritten digit (17 grey levels), row by row",
    "arithmetic": "one character of a two-digit sum, difference or product",
}
"""What one token is, per modality."""

_CORPORA = {
    "text": CorpusConfig(kind="stdlib", n_tokens=8_000_000),
    "code": CorpusConfig(kind="code", n_tokens=8_000_000),
    "images": CorpusConfig(kind="images"),
    "arithmetic": CorpusConfig(kind="arithmetic", n_digits=2, n_tokens=4_000_000),
}
_KIND_MODALITY = {config.kind: name for name, config in _CORPORA.items()}


def modality_corpus(modality: str, *, n_tokens: int | None = None, seed: int = 0) -> CorpusConfig:
    """The corpus of ``modality`` (one of :data:`MODALITIES`) as the recorded sweeps use it.

    ``n_tokens`` caps its size (text and code read at most that many bytes; arithmetic
    generates that many; images keep at most that many tokens); ``None`` keeps the
    recorded size (8M bytes of text and of code, all 1,797 digits with their shifted
    copies, 4M tokens of arithmetic).
    """
    one_of("modality", modality, MODALITIES)
    base = _CORPORA[modality]
    return CorpusConfig(**{
        **base.to_dict(),
        "paths": (),
        "seed": seed,
        "n_tokens": base.n_tokens if n_tokens is None else positive_int("n_tokens", n_tokens),
    })


def modality_of(corpus: CorpusConfig) -> str:
    """The modality whose corpus kind ``corpus`` has (``ValueError`` for other kinds)."""
    if not isinstance(corpus, CorpusConfig):
        raise ValueError(f"corpus must be a CorpusConfig, got {type(corpus).__name__}")
    one_of("corpus.kind", corpus.kind, tuple(_KIND_MODALITY))
    return _KIND_MODALITY[corpus.kind]


def pixel_loss_map(loss_per_position_nats: np.ndarray | list[float]) -> np.ndarray:
    """The loss of each pixel of an image, as an 8 x 8 map (nats/token).

    ``loss_per_position_nats`` is the per-position loss of windows that start at an
    image's newline (as :func:`scalinglab.train.evaluation_starts` places them on the
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
