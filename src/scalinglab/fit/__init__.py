"""Fitting the scaling laws: one file a law, one optimiser shared, one result shape.

* :func:`record_frontier` (``frontier.py``): the compute-efficient frontier of many
  (compute, loss) points, their lower envelope;
* :func:`fit_power_law` (``power_law.py``): y = E + (x0 / x)^alpha, fitted in log space;
* :func:`fit_chinchilla` (``chinchilla.py``): L(N, D) = E + A / N^alpha + B / D^beta with
  the Huber loss of Hoffmann et al. (2022), and the compute-optimal allocation it implies
  (:func:`allocation_exponent` when a token costs other than 6N FLOPs);
  the published constants in :data:`PUBLISHED_CHINCHILLA_FITS`;
* :func:`fit_kaplan` (``kaplan.py``): Kaplan et al.'s (2020) L(N, D) =
  [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D, optionally plus a constant;
* :func:`steps_and_tokens_to_reach`, :func:`fit_critical_batch` and
  :func:`fit_critical_batch_size` (``critical_batch.py``): the steps-tokens trade-off at a
  loss, B_crit = E_min / S_min (McCandlish et al. 2018), and B_crit(L) = B_* / L^(1/alpha_B);
* :func:`isoflop_profiles` (``isoflop.py``): N_opt at each compute budget, and N_opt ∝ C^a
  (its straight line in log-log axes with a Student-t interval on the slope, :func:`loglog_line`),
  :func:`common_exponent`: one exponent for several analyses, with an F test of whether they share it,
  and :func:`group_budgets`: which runs share a compute budget;
* :func:`fit_data_constrained` (``data_constrained.py``): loss against epochs at a fixed
  budget, L(k) = E + (D0 / D'(k))^beta with Muennighoff et al.'s effective data D';
* :func:`fit_transfer_law` (``transfer.py``): D_T = k D_F^alpha N^beta (Hernandez et al. 2021).

Every fit returns a :class:`LawFit` (``result.py``): the parameters as attributes and in
``parameters``, ``intervals`` at ``level``, ``converged``, ``n_points``, the bootstrap
resamples kept (``n_bootstrap``) and dropped (``n_bootstrap_dropped``), and ``predict``;
``fit.with_interval("alpha")`` prints a parameter as the book does, "0.73 [0.66, 0.80]"
(:func:`with_interval` for a number and an interval of any origin);
``with quietly():`` hides the fits' warnings where a page prints those fields itself.
The power law and the Chinchilla law share the optimiser of ``_optimizer.py``: the Huber
loss of the log residuals, many starts, a batched L-BFGS and the bootstrap; the Kaplan
law and the critical-batch trade-off use its pieces with objectives of their own. A new
law is a new file: a :class:`LawFit` subclass and its ``fit_`` function.
"""

from .chinchilla import PUBLISHED_CHINCHILLA_FITS, ChinchillaFit, allocation_exponent, fit_chinchilla
from .critical_batch import (
    CriticalBatchFit,
    CriticalBatchSizeFit,
    fit_critical_batch,
    fit_critical_batch_size,
    steps_and_tokens_to_reach,
    tokens_to_reach,
)
from .data_constrained import DataConstrainedFit, fit_data_constrained
from .frontier import record_frontier
from .isoflop import CommonExponent, IsoFLOPFit, common_exponent, group_budgets, isoflop_profiles, loglog_line
from .kaplan import KaplanFit, fit_kaplan
from .power_law import PowerLawFit, fit_power_law
from .result import LawFit, quietly, with_interval
from .transfer import TransferLawFit, fit_transfer_law

__all__ = [
    "PUBLISHED_CHINCHILLA_FITS",
    "ChinchillaFit",
    "CriticalBatchFit",
    "CriticalBatchSizeFit",
    "DataConstrainedFit",
    "IsoFLOPFit",
    "CommonExponent",
    "KaplanFit",
    "LawFit",
    "PowerLawFit",
    "TransferLawFit",
    "allocation_exponent",
    "common_exponent",
    "fit_chinchilla",
    "fit_critical_batch",
    "fit_critical_batch_size",
    "fit_data_constrained",
    "fit_kaplan",
    "fit_power_law",
    "fit_transfer_law",
    "group_budgets",
    "isoflop_profiles",
    "loglog_line",
    "quietly",
    "record_frontier",
    "steps_and_tokens_to_reach",
    "tokens_to_reach",
    "with_interval",
]
