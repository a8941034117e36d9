"""Induction heads: prefix matching, induction mass, the circuit, and the probes that record them.

On a random sequence repeated twice, an induction head at position i of the second copy
attends to the token *after* the previous occurrence of the current token,
j = i - length + 1, and copies it (Olsson et al. 2022). :func:`prefix_matching_scores`
measures how much each head does that; :func:`induction_mass_scores` measures the same
on any sequence (attention on every position that followed an earlier occurrence of the
current token: Edelman et al.'s statistical induction heads).

Probes registered here: ``"prefix_matching"`` and ``"induction_mass"`` (at each
evaluation, GPT only: the largest score of any head) and ``"induction"`` (at the end:
:func:`induction_probe` on the first 64 tokens of the first validation window).
"""

from __future__ import annotations

import numpy as np
import torch

from .._checks import non_negative_int, positive_int
from ..inference import attention_patterns
from ..model import GPT
from ..runs import TrainConfig
from .base import Probe, ProbeContext, register

REPEAT_ALPHABET = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
"""The bytes a repeated random sequence is drawn from: letters and digits, which every
text corpus here contains (a byte the model never saw in training has an untrained
embedding, and would test that rather than induction)."""


def repeated_random_sequence(length: int, *, seed: int, alphabet: bytes = REPEAT_ALPHABET) -> torch.Tensor:
    """``length`` tokens drawn uniformly from ``alphabet``, then the same again: int64, shape (1, 2 length)."""
    length = positive_int("length", length)
    if not isinstance(alphabet, bytes) or not alphabet:
        raise ValueError(f"alphabet must be non-empty bytes, got {alphabet!r}")
    generator = torch.Generator().manual_seed(non_negative_int("seed", seed))
    half = torch.tensor(list(alphabet))[torch.randint(0, len(alphabet), (length,), generator=generator)]
    return torch.cat([half, half])[None]


def prefix_matching_score(pattern: torch.Tensor | np.ndarray, length: int) -> float:
    """Mean attention from the second copy of a repeated sequence to the token after the first.

    For one head's (T, T) pattern on a sequence of ``length`` tokens repeated twice
    (T = 2 length, 0-based positions), the mean over i = length..2 length - 1 of
    pattern[i, i - length + 1]: 1 for a perfect induction head, about
    ln(2) / length for a head that spreads its attention uniformly over the past.
    """
    length = positive_int("length", length)
    pattern = np.asarray(pattern.detach().cpu() if isinstance(pattern, torch.Tensor) else pattern, dtype=float)
    if pattern.shape != (2 * length, 2 * length):
        raise ValueError(f"pattern must have shape (2 length, 2 length) = {(2 * length,) * 2}, got {pattern.shape}")
    rows = np.arange(length, 2 * length)
    return float(pattern[rows, rows - length + 1].mean())


def prefix_matching_scores(
    model: GPT, *, length: int = 32, seed: int = 0, alphabet: bytes = REPEAT_ALPHABET
) -> np.ndarray:
    """:func:`prefix_matching_score` of every head, shape (n_layer, n_head), on one repeated random sequence.

    The sequence is ``repeated_random_sequence(length, seed=seed, alphabet=alphabet)``;
    it needs 2 length <= n_ctx.
    """
    length = positive_int("length", length)
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a GPT (an LSTM has no attention), got {type(model).__name__}")
    if 2 * length > model.config.n_ctx:
        raise ValueError(f"length must be at most n_ctx / 2 = {model.config.n_ctx // 2}, got {length}")
    idx = repeated_random_sequence(length, seed=seed, alphabet=alphabet)
    patterns = attention_patterns(model, idx).numpy()
    return np.array([[prefix_matching_score(head, length) for head in layer] for layer in patterns])


def induction_mass(pattern: torch.Tensor | np.ndarray, tokens: torch.Tensor | np.ndarray) -> float:
    """Attention that one head puts on the tokens that followed earlier occurrences of the current token.

    For a head's (T, T) pattern on the sequence ``tokens`` (length T), position i's
    induction targets are S_i = {j : 1 <= j <= i, tokens[j - 1] == tokens[i]}: where the
    current token occurred before, one step on. The score is the mean over positions
    with a non-empty S_i of the attention mass on S_i. An induction head that copies
    from every earlier occurrence (a *statistical* induction head, Edelman et al. 2024)
    scores 1; on a sequence repeated twice with distinct tokens, S_i is the single
    position :func:`prefix_matching_score` looks at. A head attending uniformly scores
    about the fraction of earlier tokens equal to the current one (1/4 on a 4-letter
    source).
    """
    pattern = np.asarray(pattern.detach().cpu() if isinstance(pattern, torch.Tensor) else pattern, dtype=float)
    tokens = np.asarray(tokens.detach().cpu() if isinstance(tokens, torch.Tensor) else tokens).reshape(-1)
    if pattern.shape != (len(tokens), len(tokens)) or len(tokens) < 2:
        raise ValueError(f"pattern must have shape (T, T) with T = len(tokens) >= 2, got {pattern.shape} for T = {len(tokens)}")
    # targets[i, j] is True where j is in S_i.
    targets = np.zeros(pattern.shape, dtype=bool)
    targets[:, 1:] = tokens[None, :-1] == tokens[:, None]
    targets &= np.tri(len(tokens), dtype=bool)
    rows = targets.any(axis=1)
    if not rows.any():
        raise ValueError("tokens must repeat at least one token, or no position has an induction target")
    return float((pattern * targets).sum(axis=1)[rows].mean())


def induction_mass_scores(model: GPT, tokens: torch.Tensor | np.ndarray) -> np.ndarray:
    """:func:`induction_mass` of every head, shape (n_layer, n_head), on one sequence of ``tokens``."""
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a GPT (an LSTM has no attention), got {type(model).__name__}")
    idx = torch.as_tensor(np.array(tokens, dtype=np.int64)).reshape(1, -1)
    patterns = attention_patterns(model, idx).numpy()
    return np.array([[induction_mass(head, idx[0]) for head in layer] for layer in patterns])


def previous_token_scores(model: GPT, tokens: torch.Tensor | np.ndarray) -> np.ndarray:
    """Mean attention from each position i >= 1 to i - 1, per head: shape (n_layer, n_head).

    A previous-token head (score near 1) is the partner of an induction head: it writes
    "the token before me" into each position, which an induction head in a later layer
    matches against the current token (Olsson et al. 2022).
    """
    idx = torch.as_tensor(np.array(tokens, dtype=np.int64)).reshape(1, -1)
    if idx.shape[1] < 2:
        raise ValueError(f"tokens must hold at least 2 tokens, got {idx.shape[1]}")
    patterns = attention_patterns(model, idx).numpy()
    positions = np.arange(1, idx.shape[1])
    return patterns[:, :, positions, positions - 1].mean(axis=-1)


def induction_probe(model: GPT, tokens: torch.Tensor | np.ndarray) -> dict[str, object]:
    """Plain-JSON record of the induction circuit on one sequence of ``tokens``.

    Holds the tokens, every head's :func:`induction_mass` and :func:`previous_token_scores`
    (lists of lists, layer by layer), the layer and head with the largest induction mass,
    and that head's attention pattern (T x T, rounded to 4 decimals), so that a chapter
    can draw the head of a recorded run without its weights.
    """
    tokens = np.array(tokens, dtype=np.int64).reshape(-1)
    mass = induction_mass_scores(model, tokens)
    layer, head = (int(i) for i in np.unravel_index(mass.argmax(), mass.shape))
    pattern = attention_patterns(model, torch.as_tensor(tokens)[None])[layer, head].numpy()
    return {
        "tokens": tokens.tolist(),
        "induction_mass": mass.round(4).tolist(),
        "previous_token": previous_token_scores(model, tokens).round(4).tolist(),
        "best_layer": layer,
        "best_head": head,
        "pattern": pattern.round(4).tolist(),
    }


# ---------------------------------------------------------------------------
# The probes

PROBE_WINDOW_TOKENS = 64
"""Tokens of the first validation window that the ``"induction"`` probe records."""


def common_bytes(tokens: np.ndarray, most: int = 32) -> bytes:
    """The ``most`` commonest tokens of ``tokens`` other than the newline, commonest first."""
    counts = torch.from_numpy(np.bincount(np.asarray(tokens), minlength=256))  # no copy of the tokens
    counts[ord("\n")] = 0
    order = counts.argsort(descending=True)[:most]
    return bytes(order[counts[order] > 0].tolist())


def _gpt_with_room(config: TrainConfig) -> bool:
    """A GPT whose context holds a repeated sequence of at least 2 tokens."""
    return config.model.arch == "gpt" and config.model.n_ctx >= 4


def _prefix_matching(context: ProbeContext) -> float | None:
    """The largest prefix-matching score of any head on a repeated random sequence of
    min(32, n_ctx / 2) tokens drawn from the training data's 32 commonest bytes but the
    newline (bytes whose embeddings were trained)."""
    alphabet = common_bytes(context.train_tokens)
    if not alphabet:
        return None
    length = min(32, context.config.model.n_ctx // 2)
    return float(prefix_matching_scores(context.model, length=length, alphabet=alphabet).max())


def _induction_mass(context: ProbeContext) -> float | None:
    """The largest induction mass of any head on the first validation window (``None``
    when no token repeats in it)."""
    window = context.window
    if len(set(window.tolist())) == len(window):
        return None
    return float(induction_mass_scores(context.model, window).max())


def _induction(context: ProbeContext) -> dict[str, object]:
    return induction_probe(context.model, context.window[:PROBE_WINDOW_TOKENS])


register(Probe(
    name="prefix_matching",
    when="evaluation",
    measure=_prefix_matching,
    description="best head's prefix-matching score on a repeated random sequence",
    applies=_gpt_with_room,
))
register(Probe(
    name="induction_mass",
    when="evaluation",
    measure=_induction_mass,
    description="best head's induction mass on the first validation window",
    applies=_gpt_with_room,
))
register(Probe(
    name="induction",
    when="end",
    measure=_induction,
    description="the induction circuit on the first 64 validation tokens: every head's scores, the best head's pattern",
    applies=lambda config: config.model.arch == "gpt",
))
