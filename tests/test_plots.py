"""Tests of scalinglab.plots: figures in the book's style."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from scalinglab.plots import PALETTE, new_figure  # noqa: E402


def test_new_figure_gives_axes_row_by_row_in_the_book_style():
    fig, axes = new_figure(3, nrows=2, width_in=9, height_in=5)
    assert len(axes) == 6 and tuple(fig.get_size_inches()) == (9, 5)
    assert axes[0].get_subplotspec().rowspan.start == 0 and axes[3].get_subplotspec().rowspan.start == 1
    assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][: len(PALETTE)] == list(PALETTE)
    (ax,) = new_figure()[1]
    assert ax.figure is not fig
