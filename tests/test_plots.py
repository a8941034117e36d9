"""Tests of scalinglab.plots: figures in the book's style."""

from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")

from scalinglab.plots import PALETTE, loglog, new_figure  # noqa: E402


def test_new_figure_gives_axes_row_by_row_in_the_book_style():
    fig, axes = new_figure(3, nrows=2, width_in=9, height_in=5)
    assert len(axes) == 6 and tuple(fig.get_size_inches()) == (9, 5)
    assert axes[0].get_subplotspec().rowspan.start == 0 and axes[3].get_subplotspec().rowspan.start == 1
    assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][: len(PALETTE)] == list(PALETTE)
    (ax,) = new_figure()[1]
    assert ax.figure is not fig


def test_ladder_colors_run_dark_to_light_and_colors_is_gone():
    from scalinglab import plots

    ladder = plots.ladder_colors(4)
    assert len(ladder) == 4 and plots.ladder_colors(0) == []
    assert sum(ladder[0][:3]) < sum(ladder[-1][:3])  # viridis: dark (small) to light (large)
    assert not hasattr(plots, "colors")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: new_figure(0), "^ncols must be a positive integer"),
        (lambda: new_figure(nrows=1.5), "^nrows must be a positive integer"),
        (lambda: new_figure(width_in=0), "^width_in must be a finite number > 0"),
        (lambda: new_figure(height_in=float("nan")), "^height_in must be a finite number > 0"),
    ],
)
def test_new_figure_names_a_bad_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_ladder_colors_and_learning_curves_name_a_bad_argument():
    from scalinglab.plots import learning_curves, ladder_colors

    with pytest.raises(ValueError, match="^n must be a non-negative integer"):
        ladder_colors(-1)
    with pytest.raises(ValueError, match="^x must be 'tokens' or 'flops'"):
        learning_curves(new_figure()[1][0], [], x="steps")


def _y_labels(ax):
    ax.figure.canvas.draw()
    return [t.get_text() for minor in (False, True) for t in ax.get_yticklabels(minor=minor) if t.get_text()]


def test_loglog_labels_a_loss_axis_in_decimals_and_a_wide_one_in_powers_of_ten():
    (ax,) = new_figure()[1]
    ax.plot([1, 10], [0.5, 1.3])
    loglog(ax, xlabel="x", ylabel="loss")
    labels = _y_labels(ax)
    assert "0.6" in labels and "1" in labels, labels
    assert not any("times" in label or "^" in label for label in labels), labels
    (ax,) = new_figure()[1]
    ax.plot([1, 10], [1e12, 1e16])
    loglog(ax, xlabel="x", ylabel="tokens")
    labels = _y_labels(ax)
    assert labels and all("10^{" in label for label in labels), labels


def test_a_two_decade_loss_axis_labels_ticks_between_the_powers_of_ten_and_a_wide_count_axis_does_not():
    (ax,) = new_figure()[1]
    ax.plot([1, 10], [0.017, 1.2])  # L - E from 0.017 to 1.2: only 0.1 and 1 are powers of ten
    loglog(ax, xlabel="x", ylabel="reducible loss")
    labels = _y_labels(ax)
    assert {"0.02", "0.1", "0.2", "1"} <= set(labels), labels
    (ax,) = new_figure()[1]
    ax.plot([1, 10], [3e3, 1e5])  # parameters: powers of ten only, no "2×10⁴" between them
    loglog(ax, xlabel="x", ylabel="compute-optimal N")
    labels = _y_labels(ax)
    assert labels and all("10^{" in label and "times" not in label for label in labels), labels
