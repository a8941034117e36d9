"""Repeated data: the runs of a repetition store, size by size, and the data-constrained law fitted to them.

A store such as ``results/repetition_zipf_1k`` holds, for each model size and seed,
*fresh* runs (``D`` tokens from the whole training split, no ``unique_tokens``: at most a
fraction of an epoch) and *repeated* runs (``D`` tokens drawn from the first
``U = unique_tokens`` training tokens, ``k = D / U`` epochs). :func:`repetition_runs`
reads them as arrays with ``k = 1`` for a fresh run; :func:`fresh_equivalent_tokens`
reads what each repeated run was worth off the fresh runs, without a law; and
:func:`fit_repetition` fits
``L = E + (D0 / D')^beta`` with ``D' = U (1 + R* (1 - exp(-(k - 1) / R*)))``
(:func:`~scalinglab.fit.fit_data_constrained`, Muennighoff et al. 2023) to one size's runs.

The law has the loss fall, or saturate, as epochs grow at a fixed ``U``: it has no term
for overfitting. A run whose validation loss rose before the end of training (its final
loss above its best by more than ``tolerance_nats``) is outside it, and
:func:`fit_repetition` leaves such runs out unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import non_negative_float, one_of
from .fit import DataConstrainedFit, fit_data_constrained
from .results import RunTable

STILL_IMPROVING_TOLERANCE_NATS = 0.002
"""How far (nats/token) a run's final validation loss may sit above its best along the run
and still count as not overfitting (the evaluations fluctuate by about this much)."""

LOSSES = ("final", "best")
"""Which loss of each run a fit reads: the final validation loss, or the best along the run."""


@dataclass(frozen=True)
class RepetitionRuns:
    """One model size's runs, as arrays with one entry a run (fresh first, by tokens).

    Attributes:
        n_params: non-embedding parameters of the size.
        d_model: its width.
        seeds: each run's seed.
        tokens: training tokens D of each run.
        unique_tokens: unique tokens U (D for a fresh run).
        epochs: D / U (1 for a fresh run).
        fresh: whether the run drew from the whole training split.
        final_loss_nats, best_loss_nats: final and best validation loss (nats/token).
        best_at_tokens: the training tokens at which the best was reached.
    """

    n_params: int
    d_model: int
    seeds: np.ndarray
    tokens: np.ndarray
    unique_tokens: np.ndarray
    epochs: np.ndarray
    fresh: np.ndarray
    final_loss_nats: np.ndarray
    best_loss_nats: np.ndarray
    best_at_tokens: np.ndarray

    def select(self, keep: np.ndarray) -> RepetitionRuns:
        """The runs where the boolean mask ``keep`` is true."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != self.epochs.shape:
            raise ValueError(f"keep must be a mask of the {self.epochs.size} runs, got shape {keep.shape}")
        arrays = {name: getattr(self, name)[keep] for name in (
            "seeds", "tokens", "unique_tokens", "epochs", "fresh", "final_loss_nats", "best_loss_nats", "best_at_tokens")}
        return RepetitionRuns(n_params=self.n_params, d_model=self.d_model, **arrays)

    def still_improving(self, tolerance_nats: float = STILL_IMPROVING_TOLERANCE_NATS) -> np.ndarray:
        """Whether each run's final loss is within ``tolerance_nats`` of its best (it did not overfit)."""
        tolerance = non_negative_float("tolerance_nats", tolerance_nats)
        return self.final_loss_nats <= self.best_loss_nats + tolerance


def repetition_runs(table: RunTable) -> dict[int, RepetitionRuns]:
    """The runs of ``table`` grouped by size (non-embedding parameters, smallest first).

    Raises:
        ValueError: an empty table, or a repeated run of fewer tokens than its unique tokens.
    """
    if not len(table):
        raise ValueError("table must hold at least one run")
    by_size: dict[int, RepetitionRuns] = {}
    for n_params, group in sorted(table.group_by("result.n_params").items()):
        rows = []
        for run in group:
            result = run.result
            config = result.config
            unique = config.unique_tokens
            if unique is not None and unique > config.tokens:
                raise ValueError(f"run {run.run_id}: unique_tokens ({unique:,}) must not exceed tokens ({config.tokens:,})")
            best = int(np.argmin(result.val_loss_nats))
            rows.append((unique is not None, config.tokens, unique or config.tokens, config.seed,
                         result.final_val_loss_nats, result.val_loss_nats[best], result.val_tokens[best]))
        rows.sort(key=lambda row: (row[0], -row[2] if row[0] else row[1], row[3]))
        repeated, tokens, unique, seeds, final, best, best_at = (np.array(column) for column in zip(*rows))
        by_size[int(n_params)] = RepetitionRuns(
            n_params=int(n_params), d_model=int(group.results[0].config.model.d_model), seeds=seeds.astype(int),
            tokens=tokens.astype(float), unique_tokens=unique.astype(float), epochs=tokens / unique,
            fresh=~repeated.astype(bool), final_loss_nats=final.astype(float), best_loss_nats=best.astype(float),
            best_at_tokens=best_at.astype(float),
        )
    return by_size


def fresh_equivalent_tokens(runs: RepetitionRuns) -> np.ndarray:
    """For each run, the fresh tokens that gave the same final loss, read off the fresh runs
    without a law: their mean final loss at each budget, interpolated linearly in ln D.

    NaN where a run's loss lies outside the fresh runs' range, or where the fresh losses
    do not fall with D (there the reading is not unique). A fresh run reads as about its
    own tokens; a repeated run's value divided by its unique tokens is the worth of its
    ``k`` epochs in passes of fresh data (``k`` if repeats were as good as fresh data).
    """
    budgets = np.unique(runs.tokens[runs.fresh])
    if budgets.size < 2:
        raise ValueError(f"runs must hold fresh runs at two budgets or more, got {budgets.size}")
    means = np.array([runs.final_loss_nats[runs.fresh & (runs.tokens == d)].mean() for d in budgets])
    if np.any(np.diff(means) >= 0):
        return np.full(runs.epochs.shape, np.nan)
    losses = runs.final_loss_nats
    inside = (losses >= means.min()) & (losses <= means.max())
    worth = np.exp(np.interp(losses, means[::-1], np.log(budgets)[::-1]))
    return np.where(inside, worth, np.nan)


def fit_repetition(
    runs: RepetitionRuns, *, loss: str = "final", only_improving: bool = True,
    tolerance_nats: float = STILL_IMPROVING_TOLERANCE_NATS, n_bootstrap: int = 0, seed: int = 0, level: float = 0.9,
) -> DataConstrainedFit:
    """The data-constrained law fitted to one size's runs (fresh and repeated).

    ``loss`` picks each run's final or best validation loss; ``only_improving`` leaves out
    the runs that overfit (:meth:`RepetitionRuns.still_improving`). The bootstrap
    resamples the runs kept (:func:`~scalinglab.fit.fit_data_constrained`).
    """
    one_of("loss", loss, LOSSES)
    keep = runs.still_improving(tolerance_nats) if only_improving else np.ones(runs.epochs.size, dtype=bool)
    losses = runs.final_loss_nats if loss == "final" else runs.best_loss_nats
    return fit_data_constrained(
        runs.epochs[keep], losses[keep], tokens=runs.tokens[keep], n_bootstrap=n_bootstrap, seed=seed, level=level,
    )
