"""Emergence: what a model that ignores the question scores, and whether a metric of the
smaller models predicts the largest (Schaeffer et al. 2023).

**Baselines.** A model that has learnt what answers look like, but not to read the
question, is the floor every score should be read against. For sums of two
``n_digits``-digit operands (uniform, as the ``"skills"`` corpus draws them) the sum ``s``
of a random pair has the triangular distribution

    P(s) = (n - |s - (2 lo + n - 1)|) / n^2,   n = hi - lo + 1,

over ``[2 lo, 2 hi]`` (lo, hi: :func:`~scalinglab.corpora.skills.operand_range`).
:func:`sum_baselines` scores, on the problems asked, the best such model:

* exact match: always answer the most probable sum;
* per-digit accuracy: always answer the digits that are most often right, position by
  position from the last digit (a position counts only for answers that have it);
* answer loss: ``-ln P(token | the answer's earlier tokens)`` under ``P(s)``, averaged
  over every answer digit and the newline that ends it, as the probe does (nats/token):
  :func:`blind_answer_loss`.

For facts (:func:`fact_baselines`) the blind model always answers the most common
attribute.

**Extrapolation.** Each metric becomes an *error* that falls towards 0 with skill: the
answer loss itself, one minus per-digit accuracy, one minus exact match. The test of
:func:`extrapolate_error` fits ``ln error = c - gamma ln N`` (least squares on the mean
over seeds at each size) on the smaller sizes only, predicts the error of a larger size,
and compares: a ratio measured / predicted near 1 means the metric of the smaller models
foretold the larger one; far from 1, that it did not (an "emergent" jump, or a plateau).
Its interval resamples the seeds within every size (the bootstrap of
:func:`extrapolate_error`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._checks import fraction, non_negative_int, positive_finite_array, same_length
from .corpora.skills import Fact, check_facts, operand_range
from .tasks import digit_accuracy, exact_match

METRIC_ERRORS = {
    "answer_loss_nats": "answer loss (nats/token)",
    "digit_accuracy": "1 - per-digit accuracy",
    "exact_match": "1 - exact match",
}
"""The probe's metrics on sums, and the error each is tested as (see the module docstring)."""


def sum_distribution(n_digits: int) -> dict[int, float]:
    """P(s) of the sum of two uniform ``n_digits``-digit operands: sum -> probability."""
    low, high = operand_range(n_digits)
    n = high - low + 1
    middle = 2 * low + n - 1
    return {s: (n - abs(s - middle)) / n**2 for s in range(2 * low, 2 * high + 1)}


def blind_answer_loss(answers: list[str], distribution: dict[str, float]) -> float:
    """Mean -ln p (nats/token) of the answers' tokens and the newline after each, for a
    model that knows ``distribution`` (answer -> probability) but not the question.

    Token t of an answer gets P(answers that start with its first t + 1 tokens) / P(those
    that start with its first t); the newline gets P(this answer) / P(those that start
    with it). Pooled over every token of every answer, as the probe pools its losses.
    An answer outside ``distribution`` is an error (its loss would be infinite).
    """
    if not answers:
        raise ValueError("answers must hold at least one answer")
    missing = [answer for answer in answers if answer not in distribution]
    if missing:
        raise ValueError(f"answers must all have a probability in distribution; {missing[0]!r} has none")
    prefix_mass: dict[str, float] = {}
    for answer, p in distribution.items():
        for end in range(len(answer) + 1):
            prefix_mass[answer[:end]] = prefix_mass.get(answer[:end], 0.0) + p
    losses = []
    for answer in answers:
        losses += [-math.log(prefix_mass[answer[: i + 1]] / prefix_mass[answer[:i]]) for i in range(len(answer))]
        losses.append(-math.log(distribution[answer] / prefix_mass[answer]))
    return float(np.mean(losses))


def _most_probable(distribution: dict[str, float]) -> str:
    return max(distribution, key=distribution.get)


def sum_baselines(n_digits: int, problems: list[tuple[int, int]]) -> dict[str, float]:
    """Scores on ``problems`` of the best model that ignores the operands (module docstring).

    Returns ``{"exact_match", "digit_accuracy", "answer_loss_nats"}``, the keys of the
    ``"skills"`` probe's sums; ``answer_loss_nats`` in nats/token.
    """
    if not problems:
        raise ValueError("problems must hold at least one (a, b) pair")
    strings = {str(s): p for s, p in sum_distribution(n_digits).items()}
    answers = [str(a + b) for a, b in problems]
    constant_digits = []
    for position in range(max(map(len, strings))):  # from the last digit
        votes: dict[str, float] = {}
        for s, p in strings.items():
            if len(s) > position:
                votes[s[-1 - position]] = votes.get(s[-1 - position], 0.0) + p
        constant_digits.append(_most_probable(votes))
    constant = "".join(reversed(constant_digits))
    return {
        "exact_match": exact_match([_most_probable(strings)] * len(answers), answers),
        "digit_accuracy": digit_accuracy([constant] * len(answers), answers),
        "answer_loss_nats": blind_answer_loss(answers, strings),
    }


def fact_baselines(facts: Sequence[Fact], probabilities: ArrayLike) -> dict[str, float]:
    """Exact match, asked every fact once, of the best model that ignores the subject: it
    always answers the attribute that ends most fact lines in training (fact i's
    ``probabilities[i]``, summed over the facts that share an attribute).

    Returns ``{"exact_match"}``, the key of the ``"skills"`` probe's facts (each answer is
    ``"{attribute}."``). No loss is given: the blind model's loss would need the list of
    every attribute by heart, which is itself most of what memorising the facts takes.
    """
    facts = check_facts(facts)
    probabilities = positive_finite_array("probabilities", probabilities)
    same_length(facts=np.arange(len(facts)), probabilities=probabilities)
    distribution: dict[str, float] = {}
    for fact, p in zip(facts, probabilities / probabilities.sum()):
        distribution[f"{fact.attribute}."] = distribution.get(f"{fact.attribute}.", 0.0) + float(p)
    answers = [f"{fact.attribute}." for fact in facts]
    return {"exact_match": exact_match([_most_probable(distribution)] * len(answers), answers)}


def metric_error(metric: str, values: ArrayLike) -> np.ndarray:
    """The error of ``metric`` (a key of :data:`METRIC_ERRORS`): the answer loss as it is,
    one minus an accuracy."""
    if metric not in METRIC_ERRORS:
        raise ValueError(f"metric must be one of {', '.join(map(repr, METRIC_ERRORS))}, got {metric!r}")
    values = np.asarray(values, dtype=float)
    return values if metric == "answer_loss_nats" else 1.0 - values


@dataclass(frozen=True)
class Extrapolation:
    """A metric's error fitted on the smaller sizes and extrapolated to a larger one.

    Attributes:
        fitted_n_params: the sizes fitted (non-embedding parameters).
        gamma: the fitted slope, error ∝ N^-gamma.
        target_n_params: the size predicted.
        predicted: the error predicted there.
        measured: the error measured there (the mean over its seeds).
        ratio: measured / predicted.
        ratio_interval: the ``level`` bootstrap interval of the ratio.
        level: its central probability.
        n_bootstrap_dropped: resamples left out: a fitted size's mean error at 0 has no log.
    """

    fitted_n_params: np.ndarray
    gamma: float
    target_n_params: float
    predicted: float
    measured: float
    ratio: float
    ratio_interval: tuple[float, float]
    level: float
    n_bootstrap_dropped: int


def _fit_and_predict(log_n: np.ndarray, errors: np.ndarray, log_target: float) -> tuple[float, float]:
    """(gamma, predicted error) of the least-squares line ln error = c - gamma ln N."""
    slope, intercept = np.polyfit(log_n, np.log(errors), 1)
    return float(-slope), float(np.exp(intercept + slope * log_target))


def extrapolate_error(
    n_params: ArrayLike, errors: ArrayLike, *, target_n_params: float,
    n_bootstrap: int = 1000, seed: int = 0, level: float = 0.9,
) -> Extrapolation:
    """Fit ``ln error = c - gamma ln N`` to the runs below ``target_n_params``; predict the
    error at ``target_n_params`` and compare it with that size's runs.

    ``n_params`` and ``errors`` hold one entry a run (several seeds a size). The fit uses
    the mean error over the seeds of each size smaller than the target, and needs two
    sizes; the measured error is the mean over the target's runs. The bootstrap draws, for
    every size, as many of its runs with replacement, and refits.

    Raises:
        ValueError: sizes or errors not positive and finite, of different lengths, fewer
            than two sizes below the target, or no run at it.
    """
    n_params = positive_finite_array("n_params", n_params)
    errors = np.asarray(errors, dtype=float).reshape(-1)
    if not (np.all(np.isfinite(errors)) and np.all(errors >= 0)):
        raise ValueError(f"errors must be finite numbers >= 0, got {errors!r}")
    same_length(n_params=n_params, errors=errors)
    target = float(target_n_params)
    n_bootstrap, seed, level = non_negative_int("n_bootstrap", n_bootstrap), non_negative_int("seed", seed), \
        fraction("level", level)
    sizes = np.unique(n_params[n_params < target])
    if sizes.size < 2:
        raise ValueError(f"n_params must hold at least two sizes below target_n_params={target:g}, got {sizes.size}")
    at_target = errors[n_params == target]
    if not at_target.size:
        raise ValueError(f"n_params must hold runs at target_n_params={target:g}")
    groups = [errors[n_params == size] for size in sizes]
    means = np.array([group.mean() for group in groups])
    if np.any(means <= 0):
        raise ValueError("errors must be above 0 on average at every fitted size (a log is fitted)")
    log_sizes, log_target = np.log(sizes), math.log(target)
    gamma, predicted = _fit_and_predict(log_sizes, means, log_target)
    measured = float(at_target.mean())
    rng = np.random.default_rng(seed)
    ratios, dropped = [], 0
    for _ in range(n_bootstrap):
        resampled = np.array([rng.choice(group, group.size).mean() for group in groups])
        target_mean = rng.choice(at_target, at_target.size).mean()
        if np.any(resampled <= 0):
            dropped += 1
            continue
        ratios.append(target_mean / _fit_and_predict(log_sizes, resampled, log_target)[1])
    tails = [50 * (1 - level), 50 * (1 + level)]
    low, high = np.percentile(ratios, tails) if ratios else (np.nan, np.nan)
    return Extrapolation(
        fitted_n_params=sizes, gamma=gamma, target_n_params=target, predicted=predicted, measured=measured,
        ratio=measured / predicted, ratio_interval=(float(low), float(high)), level=level,
        n_bootstrap_dropped=dropped,
    )
