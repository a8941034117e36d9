"""The book's figure style: a colour-blind-safe palette and log-log helpers.

Every figure in the book goes through :func:`new_figure` so that they share one look:
Okabe & Ito's colour-blind-safe palette, readable font sizes, light grids, and the
axes labelled with their units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib as mpl
import numpy as np
import matplotlib.pyplot as plt
from cycler import cycler
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._checks import non_negative_int, positive_float, positive_int

if TYPE_CHECKING:
    from .runs import RunResult

#: Okabe & Ito (2008) palette, safe for the common forms of colour blindness.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)

STYLE: dict[str, object] = {
    "axes.prop_cycle": cycler(color=PALETTE),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 11,
    "axes.titlesize": 12,
    "legend.frameon": False,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
}


def use_style() -> None:
    """Apply the book's style to matplotlib globally (called by :func:`new_figure`)."""
    mpl.rcParams.update(STYLE)


def new_figure(
    ncols: int = 1, *, nrows: int = 1, width_in: float = 6.4, height_in: float = 4.0
) -> tuple[Figure, list[Axes]]:
    """A figure with ``nrows`` x ``ncols`` axes in the book's style; returns (figure, list of axes, row by row).

    ``width_in`` and ``height_in`` are the size of the whole figure, in inches.
    """
    ncols = positive_int("ncols", ncols)
    nrows = positive_int("nrows", nrows)
    width_in = positive_float("width_in", width_in)
    height_in = positive_float("height_in", height_in)
    use_style()
    fig, axes = plt.subplots(nrows, ncols, figsize=(width_in, height_in), squeeze=False, layout="constrained")
    return fig, list(axes.flat)


DECIMAL_RANGE = (1e-3, 1e4)
"""Tick values that :class:`DecimalLogFormatter` writes as plain decimals (low inclusive)."""


class DecimalLogFormatter(ticker.LogFormatterSciNotation):
    """Log-axis tick labels as plain decimals (0.6, 2, 300) on an axis whose whole view
    lies in :data:`DECIMAL_RANGE`, and as powers of ten (10^12) on any other, so that one
    axis never mixes the two. Which ticks get a label is matplotlib's choice, as for its
    default log formatter. With ``minor=True`` (the minor ticks' formatter) an axis
    outside that range that spans a decade or more gets no minor labels: "2×10⁴" between
    the powers of ten crowds the axis more than it helps."""

    def __init__(self, *args: object, minor: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.minor = minor

    def __call__(self, x: float, pos: int | None = None) -> str:
        label = super().__call__(x, pos)
        view = [abs(x)] if self.axis is None else [abs(v) for v in self.axis.get_view_interval()]
        if not label or not (DECIMAL_RANGE[0] <= min(view) and max(view) < DECIMAL_RANGE[1]):
            low, high = (min(view), max(view)) if self.axis is None else sorted(self.axis.get_view_interval())
            spans_a_decade = low <= 0 or high / low >= 10  # a view through 0 (symlog) spans many decades
            return "" if self.minor and spans_a_decade else label
        return np.format_float_positional(x, precision=4, unique=True, fractional=False, trim="-")


MINOR_LABEL_DECADES = (2.5, 0.5)
"""``minor_thresholds`` of the minor-tick labels: an axis spanning at most 2.5 decades gets
some of its minor ticks labelled (0.02, 0.05, say), one spanning at most half a decade
all of them; matplotlib's default (1, 0.4) leaves a two-decade axis with only its powers
of ten labelled."""


def decimal_log_ticks(axis: mpl.axis.Axis) -> None:
    """Label a log-scaled ``axis`` (``ax.yaxis``, ``ax.xaxis``) with :class:`DecimalLogFormatter`,
    its major ticks and, on an axis in :data:`DECIMAL_RANGE` of up to
    :data:`MINOR_LABEL_DECADES` decades, some or all of its minor ones."""
    axis.set_major_formatter(DecimalLogFormatter())
    axis.set_minor_formatter(DecimalLogFormatter(labelOnlyBase=False, minor_thresholds=MINOR_LABEL_DECADES, minor=True))


def loglog(ax: Axes, *, xlabel: str, ylabel: str, title: str | None = None) -> Axes:
    """Put ``ax`` on log-log axes with the given labels (say the units in them); the y
    axis (a loss, mostly, spanning less than a decade) gets decimal tick labels
    (:func:`decimal_log_ticks`)."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    decimal_log_ticks(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def ladder_colors(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` colours for an ordered ladder of sizes: viridis, dark (small) to light (large).

    Viridis is perceptually uniform and readable with the common colour-vision deficiencies;
    its yellow end is cut off, which is hard to see on white: the colours are viridis at
    ``n`` evenly spaced points of [0, 0.85], RGBA tuples with components in [0, 1].
    """
    n = non_negative_int("n", n)
    cmap = mpl.colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.0, 0.85, n)]


def learning_curves(
    ax: Axes,
    results: Sequence[RunResult],
    *,
    x: str = "tokens",
    label: str = "N = {n_params:,}",
    **plot_kwargs: object,
) -> None:
    """Validation loss of each run against its training ``"tokens"`` or ``"flops"``, one line a run.

    Runs are coloured by size (non-embedding parameters, ascending) with :func:`ladder_colors`;
    ``label`` is formatted with the run's ``n_params``.
    """
    if x not in ("tokens", "flops"):
        raise ValueError(f"x must be 'tokens' or 'flops', got {x!r}")
    ordered = sorted(results, key=lambda r: r.n_params)
    for color, result in zip(ladder_colors(len(ordered)), ordered):
        xs = result.val_tokens if x == "tokens" else result.val_flops
        ax.plot(xs, result.val_loss_nats, color=color, label=label.format(n_params=result.n_params), **plot_kwargs)
