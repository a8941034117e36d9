"""IsoFLOP profiles (Hoffmann et al. 2022, approach 2): N_opt at each compute budget, and N_opt ∝ C^a."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from .._checks import fraction, positive_array, positive_finite_array, same_length
from .result import LawFit


@dataclass(frozen=True, repr=False)
class IsoFLOPFit(LawFit):
    """IsoFLOP analysis: the loss-minimising size at each compute budget, and its trend.

    At each budget C (FLOPs) a parabola of loss in ln N is fitted; its vertex is N_opt
    (parameters, counted as the data counts them). Then N_opt = k_N C^a and D_opt = k_D C^b
    are fitted as straight lines on log-log axes (ordinary least squares in ln C).

    Attributes:
        budgets: compute of each kept budget (geometric mean of its runs' compute), FLOPs.
        parabolas: (n_budgets, 3) coefficients of loss against ln N, highest power first
            (``np.polyval(parabolas[i], np.log(N))`` draws budget i's profile).
        n_opt: N_opt at each budget, parameters.
        log_n_opt_stderr: standard error of ln N_opt from the parabola's coefficient
            covariance (delta method); NaN for a budget with only 3 runs (exact parabola).
        d_opt: D_opt at each budget, tokens: C / (6 N_opt), or the vertex of a parabola of
            loss in ln D when tokens were given.
        log_d_opt_stderr: standard error of ln D_opt, as for N.
        a: exponent of N_opt ∝ C^a; ``intervals["a"]`` is its ``level`` confidence
            interval (Student t; NaN with only 2 budgets).
        b: the same for D_opt ∝ C^b, with ``intervals["b"]``.
        n_prefactor, d_prefactor: k_N and k_D.
        dropped: compute of each budget left out -> why (fewer than 3 sizes, or a
            parabola opening downward).

    The common fields are :class:`~scalinglab.fit.result.LawFit`'s: ``n_points`` counts
    the runs of the kept budgets, ``converged`` is True (every step has a closed form)
    and there is no bootstrap.
    """

    PARAMETERS = ("a", "b", "n_prefactor", "d_prefactor")

    budgets: np.ndarray
    parabolas: np.ndarray
    n_opt: np.ndarray
    log_n_opt_stderr: np.ndarray
    d_opt: np.ndarray
    log_d_opt_stderr: np.ndarray
    a: float
    b: float
    n_prefactor: float
    d_prefactor: float
    dropped: dict[float, str]

    def predict(self, C: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Compute-optimal (parameters, tokens) at C FLOPs: (k_N C^a, k_D C^b)."""
        return self.predict_n_opt(C), self.predict_d_opt(C)

    def predict_n_opt(self, C: ArrayLike) -> np.ndarray:
        """Compute-optimal parameters at C FLOPs: k_N C^a."""
        return (self.n_prefactor * positive_array("C", C) ** self.a)[()]

    def predict_d_opt(self, C: ArrayLike) -> np.ndarray:
        """Compute-optimal tokens at C FLOPs: k_D C^b."""
        return (self.d_prefactor * positive_array("C", C) ** self.b)[()]

    def _details(self) -> dict[str, object]:
        return {"budgets": self.budgets.size, "dropped": len(self.dropped)}


def group_budgets(compute: np.ndarray, rtol: float = 0.01) -> list[np.ndarray]:
    """Indices of the runs of each budget: runs within ``rtol`` (relative) of the group's
    smallest compute share a budget. Groups in increasing compute."""
    order = np.argsort(compute)
    groups: list[list[int]] = []
    for i in order:
        if groups and compute[i] <= compute[groups[-1][0]] * (1 + rtol):
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    return [np.array(group) for group in groups]


def _parabola_vertex(u: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Fit loss = c2 u^2 + c1 u + c0 by least squares; return (c2, c1, c0), the vertex
    u* = -c1 / (2 c2) and its standard error by the delta method (NaN with 3 points).

    The fit is done in u - mean(u) for conditioning; the coefficients returned are in u.
    """
    centre = u.mean()
    design = np.vander(u - centre, 3)
    coef, *_ = np.linalg.lstsq(design, loss, rcond=None)
    c2, c1, c0 = coef
    dof = u.size - 3
    residual_variance = np.sum((loss - design @ coef) ** 2) / dof if dof > 0 else np.nan
    covariance = residual_variance * np.linalg.inv(design.T @ design)
    gradient = np.array([c1 / (2 * c2**2), -1 / (2 * c2), 0.0])  # d u* / d (c2, c1, c0)
    stderr = float(np.sqrt(gradient @ covariance @ gradient))
    raw = np.array([c2, c1 - 2 * c2 * centre, c2 * centre**2 - c1 * centre + c0])
    return raw, centre - c1 / (2 * c2), stderr


def loglog_line(
    log_x: np.ndarray, log_y: np.ndarray, level: float
) -> tuple[float, float, tuple[float, float]]:
    """OLS of log_y on log_x (a straight line in log-log axes): slope, intercept, and the slope's
    Student-t interval at ``level`` ((nan, nan) for two points, which leave no residual).
    """
    slope, intercept = np.polyfit(log_x, log_y, 1)
    dof = log_x.size - 2
    if dof == 0:
        return float(slope), float(intercept), (np.nan, np.nan)
    residuals = log_y - (slope * log_x + intercept)
    stderr = np.sqrt(np.sum(residuals**2) / dof / np.sum((log_x - log_x.mean()) ** 2))
    half = stats.t.ppf(0.5 + level / 2, dof) * stderr
    return float(slope), float(intercept), (float(slope - half), float(slope + half))


def isoflop_profiles(
    compute: ArrayLike, n_params: ArrayLike, loss: ArrayLike, *, n_tokens: ArrayLike | None = None,
    level: float = 0.9,
) -> IsoFLOPFit:
    """IsoFLOP analysis: N_opt at each compute budget, then N_opt ∝ C^a and D_opt ∝ C^b.

    Runs whose compute agrees within 1% share a budget. For each budget with at least 3
    distinct sizes, loss = c2 (ln N)^2 + c1 ln N + c0 is fitted and N_opt = exp(-c1 / 2c2);
    a budget whose parabola opens downward (c2 <= 0) has no minimum and is dropped with a
    ``RuntimeWarning``. D_opt = C / (6 N_opt), or, when ``n_tokens`` is given (e.g. when
    C is not 6 N D), the vertex of the same parabola fitted in ln D. Finally ln N_opt and
    ln D_opt are regressed on ln C. The vertex may lie outside the sizes a budget sampled:
    that is an extrapolation, so sample each budget around its minimum.

    Args:
        compute: FLOPs of each run (> 0).
        n_params: parameters of each run (> 0); N_opt is counted the same way.
        loss: final loss of each run, e.g. nats/token (> 0).
        n_tokens: training tokens of each run (> 0), optional.
        level: central probability of ``intervals["a"]`` and ``intervals["b"]``.

    Raises:
        ValueError: inputs not positive and finite or of different lengths, or fewer than
            2 budgets with a minimum.
    """
    compute, n_params = positive_finite_array("compute", compute), positive_finite_array("n_params", n_params)
    loss = positive_finite_array("loss", loss)
    tokens = None if n_tokens is None else positive_finite_array("n_tokens", n_tokens)
    arrays = {"compute": compute, "n_params": n_params, "loss": loss}
    if tokens is not None:
        arrays["n_tokens"] = tokens
    same_length(**arrays)
    level = fraction("level", level)
    kept: list[tuple[float, np.ndarray, float, float, float, float]] = []
    dropped: dict[float, str] = {}
    n_points = 0
    for group in group_budgets(compute):
        budget = float(np.exp(np.mean(np.log(compute[group]))))
        if np.unique(n_params[group]).size < 3:
            dropped[budget] = "fewer than 3 sizes"
            continue
        parabola, log_n, n_stderr = _parabola_vertex(np.log(n_params[group]), loss[group])
        if tokens is None:
            log_d, d_stderr, d_curvature = np.log(budget / 6) - log_n, n_stderr, 1.0
        else:
            d_parabola, log_d, d_stderr = _parabola_vertex(np.log(tokens[group]), loss[group])
            d_curvature = d_parabola[0]
        if parabola[0] <= 0 or d_curvature <= 0:
            dropped[budget] = "parabola opens downward"
            warnings.warn(
                f"isoflop_profiles: the profile at C = {budget:.3g} FLOPs opens downward "
                "(no minimum); that budget is dropped", RuntimeWarning, stacklevel=2,
            )
            continue
        kept.append((budget, parabola, log_n, n_stderr, log_d, d_stderr))
        n_points += group.size
    if len(kept) < 2:
        raise ValueError(f"compute must hold at least 2 budgets with a minimum, got {len(kept)}")
    budgets, parabolas, log_n, n_stderr, log_d, d_stderr = map(np.array, zip(*kept))
    a, n_intercept, a_interval = loglog_line(np.log(budgets), log_n, level)
    b, d_intercept, b_interval = loglog_line(np.log(budgets), log_d, level)
    return IsoFLOPFit(
        budgets=budgets, parabolas=parabolas, n_opt=np.exp(log_n), log_n_opt_stderr=n_stderr,
        d_opt=np.exp(log_d), log_d_opt_stderr=d_stderr, a=a, b=b,
        n_prefactor=float(np.exp(n_intercept)), d_prefactor=float(np.exp(d_intercept)),
        dropped=dropped, converged=True, n_points=n_points,
        intervals={"a": a_interval, "b": b_interval}, level=level,
    )


@dataclass(frozen=True)
class CommonExponent:
    """One allocation exponent shared by several IsoFLOP analyses, and whether they agree on it.

    Each analysis g (a modality, say) keeps its own prefactor: ln N_opt = ln k_g + a ln C.
    ``a`` is the least-squares slope of the pooled vertices with one intercept per analysis
    (the within-group slope), and ``interval`` its Student-t interval at ``level`` with
    n - G - 1 degrees of freedom (n vertices, G analyses). Whether the analyses share a
    slope at all is the F test of that model against one slope per analysis:

        F = ((RSS_common - RSS_separate) / (G - 1)) / (RSS_separate / (n - 2 G)),

    with ``p_value`` = P(F_{G-1, n-2G} > F). A small p-value says that the exponents differ
    by more than the scatter of each analysis's vertices about its line allows.

    Attributes:
        a: the common exponent; ``interval`` its confidence interval.
        exponents: each analysis's own slope, in the order given.
        f_statistic, p_value: the test of one slope against G slopes.
        n_vertices, n_groups: n and G.
    """

    a: float
    interval: tuple[float, float]
    level: float
    exponents: tuple[float, ...]
    f_statistic: float
    p_value: float
    n_vertices: int
    n_groups: int


def common_exponent(fits: "list[IsoFLOPFit] | tuple[IsoFLOPFit, ...]", *, level: float = 0.9) -> CommonExponent:
    """:class:`CommonExponent` of the N_opt vertices of two or more IsoFLOP analyses.

    Raises:
        ValueError: fewer than 2 fits, a fit of fewer than 3 budgets (its own line would
            leave no residual), or not IsoFLOPFits.
    """
    fits = tuple(fits)
    if len(fits) < 2 or not all(isinstance(fit, IsoFLOPFit) for fit in fits):
        raise ValueError(f"fits must be 2 or more IsoFLOPFits, got {len(fits)}")
    if min(fit.budgets.size for fit in fits) < 3:
        raise ValueError("each fit must have at least 3 budgets with a minimum")
    level = fraction("level", level)
    xs = [np.log(fit.budgets) - np.log(fit.budgets).mean() for fit in fits]
    ys = [np.log(fit.n_opt) - np.log(fit.n_opt).mean() for fit in fits]
    sxx = np.array([x @ x for x in xs])
    sxy = np.array([x @ y for x, y in zip(xs, ys)])
    own = sxy / sxx
    a = float(sxy.sum() / sxx.sum())
    rss_separate = float(sum(np.sum((y - b * x) ** 2) for x, y, b in zip(xs, ys, own)))
    rss_common = float(sum(np.sum((y - a * x) ** 2) for x, y in zip(xs, ys)))
    n, groups = sum(x.size for x in xs), len(fits)
    common_dof, separate_dof = n - groups - 1, n - 2 * groups
    half = stats.t.ppf(0.5 + level / 2, common_dof) * np.sqrt(rss_common / common_dof / sxx.sum())
    with np.errstate(divide="ignore", invalid="ignore"):  # vertices exactly on their lines: F is inf or nan
        f_statistic = np.float64(rss_common - rss_separate) / (groups - 1) / (np.float64(rss_separate) / separate_dof)
    return CommonExponent(
        a=a, interval=(float(a - half), float(a + half)), level=level, exponents=tuple(float(b) for b in own),
        f_statistic=float(f_statistic), p_value=float(stats.f.sf(f_statistic, groups - 1, separate_dof)),
        n_vertices=n, n_groups=groups,
    )
