"""Transfer: what pre-training is worth in fine-tuning data (Hernandez et al. 2021).

A model pre-trained on one distribution (text) and fine-tuned on ``D_F`` tokens of
another (code) reaches some loss on the second. The **effective data** ``D_E`` is the
number of fine-tuning-distribution tokens a model of the same size trained from scratch
needs to reach that loss; the **effective data transferred** is ``D_T = D_E - D_F``,
what pre-training was worth in tokens of the new task. Hernandez et al. fit
``D_T = k D_F^alpha N^beta``: transfer grows with model size and, more slowly than
one for one, with the fine-tuning data (:func:`scalinglab.fit.fit_transfer_law` fits it).

Both losses are *early-stopped* (the best validation loss of a run,
:func:`early_stopped_loss`), since small fine-tuning sets are seen for many epochs.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike

from ._checks import positive_finite_array, positive_int, same_length
from .corpora import CorpusConfig, make_corpus
from .runs import RunResult, TrainConfig


def early_stopped_loss(result: RunResult) -> float:
    """The least validation loss of a run over its evaluations (nats/token)."""
    if not isinstance(result, RunResult):
        raise ValueError(f"result must be a RunResult, got {type(result).__name__}")
    return float(min(result.val_loss_nats))


def fine_tuning_config(
    config: TrainConfig,
    fine_tuning_tokens: int,
    *,
    pretrain_corpus: CorpusConfig | None = None,
    pretrain_tokens: int | None = None,
) -> TrainConfig:
    """``config`` trained on only the first ``fine_tuning_tokens`` of its corpus's training
    split (repeated as the budget needs), after pre-training on ``pretrain_corpus`` for
    ``pretrain_tokens`` tokens when they are given (from scratch otherwise).

    Raises ``ValueError`` naming ``fine_tuning_tokens`` when it exceeds the training
    tokens the corpus has.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    positive_int("fine_tuning_tokens", fine_tuning_tokens)
    available = len(make_corpus(config.corpus).train_tokens)
    if fine_tuning_tokens > available:
        raise ValueError(
            f"fine_tuning_tokens must be at most the {available:,} training tokens of the "
            f"{config.corpus.kind!r} corpus, got {fine_tuning_tokens:,}"
        )
    return replace(
        config, unique_tokens=fine_tuning_tokens, pretrain_corpus=pretrain_corpus, pretrain_tokens=pretrain_tokens
    )


def effective_data_tokens(
    scratch_tokens: ArrayLike, scratch_loss_nats: ArrayLike, fine_tuned_loss_nats: ArrayLike
) -> np.ndarray:
    """``D_E``: the from-scratch data that reaches each fine-tuned loss, in tokens.

    The from-scratch curve (loss of models trained from scratch on ``scratch_tokens``
    tokens, one model size) is made non-increasing in D (a running minimum: with early
    stopping, more data cannot hurt, so a rise is noise) and interpolated linearly in
    log D (on a power law plus constant sampled every factor of 4 in D, the interpolated
    D_E is within 10% of the exact one). A loss outside the curve's range (better than the most data reached, or worse
    than the least) gives NaN: the effective data is then only known to lie beyond the
    measured range.
    """
    tokens = positive_finite_array("scratch_tokens", scratch_tokens)
    losses = positive_finite_array("scratch_loss_nats", scratch_loss_nats)
    same_length(scratch_tokens=tokens, scratch_loss_nats=losses)
    if len(np.unique(tokens)) != len(tokens) or len(tokens) < 2:
        raise ValueError(f"scratch_tokens must hold at least 2 distinct sizes, got {tokens.tolist()}")
    targets = positive_finite_array("fine_tuned_loss_nats", np.atleast_1d(fine_tuned_loss_nats))
    order = np.argsort(tokens)
    log_tokens, curve = np.log(tokens[order]), np.minimum.accumulate(losses[order])
    # np.interp wants increasing x: loss falls with D, so read the curve backwards
    log_effective = np.interp(targets, curve[::-1], log_tokens[::-1], left=np.nan, right=np.nan)
    inside = (targets >= curve[-1]) & (targets <= curve[0])
    return np.where(inside, np.exp(log_effective), np.nan)


def effective_data_transferred(
    scratch_tokens: ArrayLike,
    scratch_loss_nats: ArrayLike,
    fine_tuning_tokens: ArrayLike,
    fine_tuned_loss_nats: ArrayLike,
) -> np.ndarray:
    """``D_T = D_E - D_F`` for each fine-tuned run (tokens; NaN where ``D_E`` is out of range).

    ``fine_tuning_tokens`` (D_F) and ``fine_tuned_loss_nats`` describe the pre-trained,
    then fine-tuned runs of one model size; the scratch curve the same size's runs from
    scratch (see :func:`effective_data_tokens`). Negative values mean pre-training hurt.
    """
    fine_tuning = positive_finite_array("fine_tuning_tokens", np.atleast_1d(fine_tuning_tokens))
    fine_tuned = positive_finite_array("fine_tuned_loss_nats", np.atleast_1d(fine_tuned_loss_nats))
    same_length(fine_tuning_tokens=fine_tuning, fine_tuned_loss_nats=fine_tuned)
    return effective_data_tokens(scratch_tokens, scratch_loss_nats, fine_tuned) - fine_tuning
