"""The transfer law of Hernandez et al. (2021), D_T = k D_F^alpha N^beta.

``D_T`` is the effective data transferred by pre-training, in tokens of the fine-tuning
distribution (:func:`scalinglab.transfer.effective_data_transferred`), ``D_F`` the
fine-tuning tokens and ``N`` the parameters.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from .._checks import fraction, positive_finite_array, same_length
from .result import LawFit


@dataclass(frozen=True, repr=False)
class TransferLawFit(LawFit):
    """``D_T = k D_F^alpha N^beta`` fitted by least squares in logs (Hernandez et al.'s form).

    Attributes:
        k: prefactor (tokens, with D_F in tokens and N in parameters).
        alpha: exponent of the fine-tuning data D_F.
        beta: exponent of the model size N.

    The common fields are :class:`~scalinglab.fit.result.LawFit`'s: ``n_points`` counts
    the points used (those with a finite, positive D_T); ``intervals`` are Student-t
    intervals of ordinary least squares in logs (that of ``k`` is the exponential of
    log k's); ``converged`` says whether the points pin down all three parameters.
    """

    PARAMETERS = ("k", "alpha", "beta")

    k: float
    alpha: float
    beta: float

    def predict(self, fine_tuning_tokens: ArrayLike, n_params: ArrayLike) -> np.ndarray:
        """``k D_F^alpha N^beta`` in tokens."""
        d = positive_finite_array("fine_tuning_tokens", np.atleast_1d(fine_tuning_tokens))
        n = positive_finite_array("n_params", np.atleast_1d(n_params))
        return self.k * d**self.alpha * n**self.beta


def fit_transfer_law(
    fine_tuning_tokens: ArrayLike, n_params: ArrayLike, transferred_tokens: ArrayLike, *, level: float = 0.9
) -> TransferLawFit:
    """Fit ``log D_T = log k + alpha log D_F + beta log N`` over the points with D_T > 0.

    Points whose D_T is NaN (out of the scratch curve's range) or not positive are left
    out; at least 4 must remain (3 parameters and one degree of freedom). The intervals
    are ``level`` Student-t intervals with n - 3 degrees of freedom. When D_F and N do not
    vary independently (e.g. one model size) the least-squares solution is not unique: the
    fit is the one of least norm, ``converged`` is False, the intervals are NaN, and a
    ``RuntimeWarning`` says so.

    Args:
        fine_tuning_tokens: D_F of each point, tokens (> 0).
        n_params: N of each point, parameters (> 0).
        transferred_tokens: D_T of each point, tokens (NaN or <= 0 to leave a point out).
        level: central probability of ``intervals``.

    Raises:
        ValueError: D_F or N not positive and finite, different lengths, fewer than 4
            usable points, or ``level`` outside (0, 1].
    """
    d = positive_finite_array("fine_tuning_tokens", fine_tuning_tokens)
    n = positive_finite_array("n_params", n_params)
    transferred = np.asarray(transferred_tokens, dtype=float)
    same_length(fine_tuning_tokens=d, n_params=n, transferred_tokens=transferred)
    level = fraction("level", level)
    usable = np.isfinite(transferred) & (transferred > 0)
    n_points = int(usable.sum())
    if n_points < 4:
        raise ValueError(f"transferred_tokens must hold at least 4 finite, positive values, got {n_points}")
    design = np.column_stack([np.ones(n_points), np.log(d[usable]), np.log(n[usable])])
    log_t = np.log(transferred[usable])
    coef, _, rank, _ = np.linalg.lstsq(design, log_t, rcond=None)
    log_k, alpha, beta = coef
    converged = bool(rank == 3)
    if converged:
        dof = n_points - 3
        variance = np.sum((log_t - design @ coef) ** 2) / dof * np.diag(np.linalg.inv(design.T @ design))
        half = stats.t.ppf(0.5 + level / 2, dof) * np.sqrt(variance)
    else:
        warnings.warn(
            "fit_transfer_law: fine_tuning_tokens and n_params do not vary independently, so "
            "k, alpha and beta are not pinned down (the fit is the least-squares solution of least norm)",
            RuntimeWarning, stacklevel=2,
        )
        half = np.full(3, np.nan)
    low, high = coef - half, coef + half
    intervals = {
        "k": (float(np.exp(low[0])), float(np.exp(high[0]))),
        "alpha": (float(low[1]), float(high[1])),
        "beta": (float(low[2]), float(high[2])),
    }
    return TransferLawFit(
        k=float(np.exp(log_k)), alpha=float(alpha), beta=float(beta), converged=converged,
        n_points=n_points, intervals=intervals, level=level,
    )
