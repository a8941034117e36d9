"""Fitting the scaling laws: one file a law, one optimiser shared, one result shape.

* :func:`frontier`, :func:`record_frontier` (``frontier.py``): the compute-efficient
  frontier of many (compute, loss) points;
* :func:`fit_power_law` (``power_law.py``): y = E + (x0 / x)^alpha, fitted in log space;
* :func:`fit_chinchilla` (``chinchilla.py``): L(N, D) = E + A / N^alpha + B / D^beta with
  the Huber loss of Hoffmann et al. (2022), and the compute-optimal allocation it implies;
* :func:`isoflop_profiles` (``isoflop.py``): N_opt at each compute budget, and N_opt ∝ C^a;
* :func:`fit_data_constrained` (``data_constrained.py``): loss against epochs at a fixed
  budget, L(k) = E + (D0 / D'(k))^beta with Muennighoff et al.'s effective data D';
* :func:`fit_transfer_law` (``transfer.py``): D_T = k D_F^alpha N^beta (Hernandez et al. 2021).

Every fit returns a :class:`LawFit` (``result.py``): the parameters as attributes and in
``parameters``, ``intervals`` at ``level``, ``converged``, ``n_points``, the bootstrap
resamples kept (``n_bootstrap``) and dropped (``n_bootstrap_dropped``), and ``predict``.
The power law and the Chinchilla law share the optimiser of ``_optimizer.py``: the Huber
loss of the log residuals, many starts, a batched L-BFGS and the bootstrap. A new law
is a new file: a :class:`LawFit` subclass and its ``fit_`` function.
"""

from .chinchilla import ChinchillaFit, fit_chinchilla
from .data_constrained import DataConstrainedFit, fit_data_constrained
from .frontier import frontier, record_frontier
from .isoflop import IsoFLOPFit, isoflop_profiles
from .power_law import PowerLawFit, fit_power_law
from .result import LawFit
from .transfer import TransferLawFit, fit_transfer_law

__all__ = [
    "ChinchillaFit",
    "DataConstrainedFit",
    "IsoFLOPFit",
    "LawFit",
    "PowerLawFit",
    "TransferLawFit",
    "fit_chinchilla",
    "fit_data_constrained",
    "fit_power_law",
    "fit_transfer_law",
    "frontier",
    "isoflop_profiles",
    "record_frontier",
]
