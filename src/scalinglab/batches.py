"""Windows of a corpus's byte tokens as tensors: random training batches and fixed
evaluation windows.

A window of ``n_ctx + 1`` tokens gives an input ``x`` (its first ``n_ctx`` tokens) and a
target ``y`` (its last ``n_ctx``): ``y[t] = x[t + 1]``, the next token at every position.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._checks import positive_int
from .corpora import Corpus


def token_tensor(tokens: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``tokens`` as a CPU tensor (corpora's arrays are read-only, so they are copied)."""
    if isinstance(tokens, torch.Tensor):
        return tokens
    array = np.asarray(tokens)
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def get_batch(
    tokens: np.ndarray | torch.Tensor,
    batch_size: int,
    n_ctx: int,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of ``n_ctx + 1`` tokens as inputs and next-token targets.

    Returns ``(x, y)``, int64 tensors of shape (batch_size, n_ctx) with
    ``y[b, t] = tokens[start_b + t + 1]`` and ``x[b, t] = tokens[start_b + t]``; the
    starts are uniform over the valid offsets, drawn from ``generator``.
    """
    batch_size, n_ctx = positive_int("batch_size", batch_size), positive_int("n_ctx", n_ctx)
    tokens = token_tensor(tokens)
    if len(tokens) < n_ctx + 1:
        raise ValueError(f"tokens must hold at least n_ctx + 1 = {n_ctx + 1} tokens, got {len(tokens)}")
    starts = torch.randint(0, len(tokens) - n_ctx, (batch_size,), generator=generator)
    return windows(tokens, starts, n_ctx, device)


def windows(
    tokens: np.ndarray | torch.Tensor, starts: torch.Tensor, n_ctx: int, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets (int64, len(starts) x n_ctx) of the windows beginning at ``starts``."""
    tokens = token_tensor(tokens)
    window = tokens[starts[:, None] + torch.arange(n_ctx + 1)].long()
    return window[:, :-1].to(device), window[:, 1:].to(device)


def evaluation_starts(corpus: Corpus, n_ctx: int, eval_tokens: int) -> torch.Tensor:
    """Fixed starts of ``ceil(eval_tokens / n_ctx)`` validation windows.

    Windows begin at document starts (evenly spaced among the documents that leave
    room for a whole window) when there are enough documents, so that position ``t``
    of the per-position loss is ``t`` tokens into a document; otherwise they are evenly
    spaced over the validation tokens.
    """
    n_windows = math.ceil(positive_int("eval_tokens", eval_tokens) / n_ctx)
    last = len(corpus.val_tokens) - n_ctx - 1
    document_starts = corpus.val_document_starts[corpus.val_document_starts <= last]
    if len(document_starts) >= n_windows:
        chosen = np.linspace(0, len(document_starts) - 1, n_windows).round().astype(np.int64)
        return torch.from_numpy(document_starts[chosen])
    return torch.from_numpy(np.linspace(0, last, n_windows).round().astype(np.int64))
