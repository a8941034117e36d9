"""``"markov_icl"``: the *in-context* source, and its Bayes-optimal loss.

Each document is a newline followed by a first-order Markov chain over ``n_states``
letters whose transition table is drawn afresh for that document (rows from a symmetric
Dirichlet(``concentration``)), so a model can only predict by learning the table from
the context. The Bayes-optimal loss at each position is
:func:`bayes_optimal_loss_per_position`; it falls towards the chains' entropy rate,
:func:`expected_entropy_rate_nats`.
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import non_negative_int, positive_float, positive_int
from .base import DOCUMENT_START, CorpusConfig, CorpusKind, Parameter, at_least_two, register

_STATE_LETTERS = b"abcdefghijklmnopqrstuvwxyz"


def _n_states(name: str, value: object) -> int:
    if positive_int(name, value) > len(_STATE_LETTERS):
        raise ValueError(f"{name} must be at most {len(_STATE_LETTERS)}, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def _documents(config: CorpusConfig) -> list[np.ndarray]:
    rng = np.random.default_rng([config.seed, 0])
    n_states = config.document_tokens - 1
    n_documents = math.ceil(config.n_tokens / config.document_tokens)
    states = sample_markov_documents(n_documents, n_states, config.n_states, config.concentration, rng)
    letters = np.frombuffer(_STATE_LETTERS, dtype=np.uint8)
    stream = np.concatenate([np.full((n_documents, 1), DOCUMENT_START, dtype=np.uint8), letters[states]], axis=1)
    return list(stream)


def sample_markov_documents(
    n_documents: int, length: int, n_states: int, concentration: float, rng: np.random.Generator
) -> np.ndarray:
    """State sequences (``n_documents`` x ``length``, int64), each from its own random chain.

    Per document: a transition table whose rows are Dirichlet(``concentration``,...),
    a uniformly random first state, then ``length - 1`` transitions.
    """
    tables = rng.dirichlet(np.full(n_states, concentration), size=(n_documents, n_states))
    cumulative = np.cumsum(tables, axis=-1)
    states = np.empty((n_documents, length), dtype=np.int64)
    states[:, 0] = rng.integers(0, n_states, size=n_documents)
    rows = np.arange(n_documents)
    for t in range(1, length):
        u = rng.random(n_documents)[:, None]
        states[:, t] = np.minimum((u > cumulative[rows, states[:, t - 1]]).sum(axis=1), n_states - 1)
    return states


def entropy_rate_nats(tables: np.ndarray) -> np.ndarray:
    """Entropy rate of first-order Markov chains, nats per transition.

    ``tables`` is one transition table (n x n, rows summing to 1) or a stack of them
    (... x n x n). Each chain's rate is H = -sum_a pi_a sum_b P_ab ln P_ab, with pi its
    stationary distribution (pi P = pi, sum pi = 1), which is unique when every entry
    of P is positive, as for tables drawn from a Dirichlet.
    """
    tables = np.asarray(tables, dtype=float)
    if tables.ndim < 2 or tables.shape[-1] != tables.shape[-2]:
        raise ValueError(f"tables must be square transition tables (... x n x n), got shape {tables.shape}")
    if not np.allclose(tables.sum(axis=-1), 1.0) or np.any(tables < 0):
        raise ValueError("tables must have non-negative rows that sum to 1")
    n = tables.shape[-1]
    system = np.swapaxes(tables, -1, -2) - np.eye(n)  # (P^T - I) pi = 0 ...
    system[..., -1, :] = 1.0  # ... with the last equation replaced by sum pi = 1
    rhs = np.zeros(tables.shape[:-1])
    rhs[..., -1] = 1.0
    stationary = np.linalg.solve(system, rhs[..., None])[..., 0]
    row_entropy = -np.where(tables > 0, tables * np.log(np.where(tables > 0, tables, 1.0)), 0.0).sum(axis=-1)
    return (stationary * row_entropy).sum(axis=-1)


def expected_entropy_rate_nats(
    *, n_states: int = 8, concentration: float = 0.3, n_samples: int = 20_000, seed: int = 0
) -> tuple[float, float]:
    """The entropy rate of a ``"markov_icl"`` document's chain, averaged over its prior, and
    the standard error of that Monte Carlo mean (nats per token).

    Far along a long document the Bayes-optimal predictor has learned the table, and its
    loss tends to this chain's :func:`entropy_rate_nats`; averaged over the tables the
    source draws (rows from a symmetric Dirichlet(``concentration``)), that is the floor of
    :func:`bayes_optimal_loss_per_position` as the position grows. Estimated from
    ``n_samples`` tables.
    """
    n_states, concentration = positive_int("n_states", n_states), positive_float("concentration", concentration)
    n_samples = positive_int("n_samples", n_samples)
    rng = np.random.default_rng([non_negative_int("seed", seed), 3])
    rates = entropy_rate_nats(rng.dirichlet(np.full(n_states, concentration), size=(n_samples, n_states)))
    standard_error = rates.std(ddof=1) / math.sqrt(n_samples) if n_samples > 1 else 0.0
    return float(rates.mean()), float(standard_error)


def bayes_optimal_predictive(states: np.ndarray, n_states: int, concentration: float) -> np.ndarray:
    """The Bayes-optimal next-state distribution at every position of each sequence.

    For state sequences ``states`` (documents x length) returns ``P`` (documents x
    length x n_states) where ``P[d, t]`` predicts ``states[d, t]`` from
    ``states[d, :t]``: uniform at ``t = 0``, then the Dirichlet-categorical posterior
    predictive ``(count(prev -> x) + alpha) / (count(prev) + n_states * alpha)``.
    """
    n_documents, length = states.shape
    counts = np.zeros((n_documents, n_states, n_states))
    rows = np.arange(n_documents)
    predictive = np.empty((n_documents, length, n_states))
    predictive[:, 0] = 1.0 / n_states
    for t in range(1, length):
        previous = states[:, t - 1]
        if t > 1:
            counts[rows, states[:, t - 2], previous] += 1
        row = counts[rows, previous] + concentration
        predictive[:, t] = row / row.sum(axis=1, keepdims=True)
    return predictive


def bayes_optimal_loss_per_position(
    n_positions: int,
    *,
    n_states: int = 8,
    concentration: float = 0.3,
    n_samples: int = 2000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected loss (nats) of the Bayes-optimal predictor at each position, with its standard error.

    Entry ``t`` is the expected log-loss of predicting state ``t`` of a ``"markov_icl"``
    document from the ``t`` states before it (entry 0 is ``ln n_states``). In a window
    that starts at a document's newline, it is the best possible loss at position ``t``.

    Estimated without bias by Rao-Blackwellisation: given a history the next state's
    distribution *is* the posterior predictive, so the expected loss given the history
    is exactly that predictive's entropy. The estimate is the mean of that entropy over
    ``n_samples`` sampled documents; the standard error is their standard deviation
    over ``sqrt(n_samples)``. (The Polya closed form does not apply directly: the times
    a row is visited depend on that row's own outcomes.)
    """
    n_positions = positive_int("n_positions", n_positions)
    n_states, concentration = positive_int("n_states", n_states), positive_float("concentration", concentration)
    n_samples = positive_int("n_samples", n_samples)
    rng = np.random.default_rng([non_negative_int("seed", seed), 2])
    states = sample_markov_documents(n_samples, n_positions, n_states, concentration, rng)
    predictive = bayes_optimal_predictive(states, n_states, concentration)
    entropy = -(predictive * np.log(predictive)).sum(axis=-1)
    standard_error = entropy.std(axis=0, ddof=1) / math.sqrt(n_samples) if n_samples > 1 else np.zeros(n_positions)
    return entropy.mean(axis=0), standard_error


KIND = register(CorpusKind(
    name="markov_icl",
    title="in-context Markov chains",
    parameters={
        "n_states": Parameter(8, _n_states, f"letters of the chain, at most {len(_STATE_LETTERS)}"),
        "concentration": Parameter(0.3, positive_float, "Dirichlet concentration of each transition row"),
        "document_tokens": Parameter(256, at_least_two, "tokens per document: a newline and document_tokens - 1 states"),
    },
    documents=_documents,
))
