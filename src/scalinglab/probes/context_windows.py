"""Probe ``"context_windows"``: the trained model's loss along the context, window by window,
on windows placed *inside* validation documents.

The per-position loss of an evaluation (``RunResult.val_loss_per_position_nats``) is
measured on windows that begin at document starts, so position t is also "t tokens into a
document": a curve read from it mixes *how much context the model has read* with *where in
the document the token is* (a module's first lines, its imports and title, read
differently from its body). This probe separates the two. Its windows start at a random
offset at least one context into a validation document, ``n_ctx <= offset <=
length - n_ctx - 1``, in documents of at least ``3 n_ctx + 1`` tokens (so each has at least
``n_ctx`` offsets to choose from): no position of any window predicts a document's
opening, and the spread of positions-in-document is the same at every t up to a shift of
at most ``n_ctx``. The windows are drawn from a fixed seed, the same for every run of one
corpus and context, so two models' curves are paired window by window.

It returns, as JSON:

* ``placement``: ``"inside_document"``; ``n_windows``, and ``n_documents``, the validation
  documents long enough to draw from (the eligible ones; the documents actually drawn are
  the distinct entries of ``window_document``);
* ``loss_per_position_nats``: the mean over the windows at each position 1..n_ctx;
* ``bin_firsts``, ``bin_lasts``: the log-spaced position bins (1-based, inclusive) of
  :func:`scalinglab.icl.binned_along_context`;
* ``window_bin_loss_nats``: for each window, its mean loss in each bin (n_windows x n_bins);
* ``window_document``: the index (among the validation documents) of each window's document.
  Windows of one document are not independent, so a bootstrap resamples documents, each
  with all its windows (:func:`scalinglab.icl.document_resample_weights`).

The number of windows is ``max(512, eval_tokens // n_ctx)``, less any start drawn twice.
"""

from __future__ import annotations

import numpy as np
import torch

from ..batches import windows
from ..icl import POSITION_BINS, log_bins
from .base import Probe, ProbeContext, register

MIN_WINDOWS = 512
"""The fewest windows the probe measures (when ``eval_tokens // n_ctx`` asks for fewer)."""

WINDOW_SEED = 20_261_201
"""The seed of the window placement (fixed: every run of a corpus sees the same windows)."""


def inside_document_starts(
    document_starts: np.ndarray, n_tokens: int, n_ctx: int, n_windows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Starts of ``n_windows`` windows, each ``n_ctx`` or more tokens into a document of at
    least ``3 n_ctx + 1`` tokens, drawn from :data:`WINDOW_SEED` (the long documents in
    turn, then a uniform offset in each), and the index of each window's document; sorted
    by start, a start drawn twice kept once.

    ``document_starts`` are the documents' offsets in a stream of ``n_tokens`` tokens.
    Raises ``ValueError`` when no document is long enough.
    """
    ends = np.append(document_starts[1:], n_tokens)
    long_enough = np.flatnonzero(ends - document_starts >= 3 * n_ctx + 1)
    if len(long_enough) == 0:
        raise ValueError(
            f"context_windows: no validation document holds 3 * n_ctx + 1 = {3 * n_ctx + 1} tokens; "
            "use longer documents (e.g. min_document_tokens) or a shorter n_ctx"
        )
    rng = np.random.default_rng([WINDOW_SEED, n_ctx])
    chosen = long_enough[np.arange(n_windows) % len(long_enough)]
    rng.shuffle(chosen)
    lows = document_starts[chosen] + n_ctx
    highs = ends[chosen] - n_ctx - 1  # inclusive: the window's n_ctx + 1 tokens end inside the document
    starts = lows + (rng.random(n_windows) * (highs - lows + 1)).astype(np.int64)
    starts, first = np.unique(starts, return_index=True)
    return starts, chosen[first]


@torch.no_grad()
def _measure(context: ProbeContext) -> dict:
    n_ctx = context.config.model.n_ctx
    corpus, model = context.corpus, context.model
    n_windows = max(MIN_WINDOWS, context.config.eval_tokens // n_ctx)
    starts, documents = inside_document_starts(corpus.val_document_starts, len(corpus.val_tokens), n_ctx, n_windows)
    device = str(next(model.parameters()).device)
    rows = []
    for chunk in torch.from_numpy(starts).split(16):
        x, y = windows(corpus.val_tokens, chunk, n_ctx, device)
        _, loss = model(x, y, reduction="none")
        rows.append(loss.detach().float().cpu().double().numpy())
    loss = np.concatenate(rows)  # (n_windows, n_ctx)
    firsts, lasts = log_bins(n_ctx, POSITION_BINS)
    binned = np.stack([loss[:, a - 1 : b].mean(axis=1) for a, b in zip(firsts, lasts)], axis=1)
    ends = np.append(corpus.val_document_starts[1:], len(corpus.val_tokens))
    return {
        "placement": "inside_document",
        "n_windows": int(len(starts)),
        "n_documents": int(np.sum(ends - corpus.val_document_starts >= 3 * n_ctx + 1)),
        "loss_per_position_nats": np.round(loss.mean(axis=0), 6).tolist(),
        "bin_firsts": firsts.tolist(),
        "bin_lasts": lasts.tolist(),
        "window_bin_loss_nats": np.round(binned, 5).tolist(),
        "window_document": documents.tolist(),
    }


PROBE = register(Probe(
    name="context_windows",
    when="end",
    measure=_measure,
    description="loss along the context on windows inside documents, per window and log-spaced position bin (nats/token)",
))
