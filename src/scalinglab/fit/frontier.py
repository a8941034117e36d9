"""The compute-efficient frontier of many (compute, loss) points.

* :func:`frontier`: the lower convex hull in log-log space (Kaplan et al. 2020);
* :func:`record_frontier`: the runs whose loss beats every run of less compute.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._checks import positive_finite_array, same_length


def _compute_and_loss(compute: ArrayLike, loss: ArrayLike) -> np.ndarray:
    """The (compute, loss) points as a (2, n) array, checked positive, finite and of one length."""
    c = positive_finite_array("compute", compute)
    l = positive_finite_array("loss", loss)
    same_length(compute=c, loss=l)
    return np.stack([c, l])


def frontier(compute: ArrayLike, loss: ArrayLike) -> np.ndarray:
    """Indices of the compute-efficient frontier: the lower convex hull in log-log space.

    Given many (compute C, loss L) points (e.g. every validation point of every run),
    returns the indices, in increasing C, of the points on the lower convex hull of
    (log C, log L) whose loss is below that of every point of smaller compute. On log-log
    axes those points are the frontier of Kaplan et al. (2020): for each compute budget,
    the least loss any run reached with that much compute or less, as a convex curve.

    Args:
        compute: compute of each point, in FLOPs (> 0).
        loss: loss of each point (> 0), e.g. in nats/token.
    """
    x, y = np.log(_compute_and_loss(compute, loss))
    order = np.lexsort((y, x))  # by compute, ties by loss
    hull: list[int] = []
    for i in order:
        if hull and x[hull[-1]] == x[i]:
            continue  # same compute, higher (or equal) loss
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a])
            if cross >= -1e-12:
                break  # a left turn (or a straight line): b stays on the hull
            hull.pop()  # b lies above the segment from a to i
        hull.append(int(i))
    # keep the part of the lower hull where loss still falls with compute
    lowest = int(np.argmin([y[i] for i in hull]))
    return np.array(hull[: lowest + 1], dtype=int)


def record_frontier(compute: ArrayLike, loss: ArrayLike) -> np.ndarray:
    """Indices of the runs that reach a lower loss than every run of less compute.

    The frontier as a staircase of records rather than a convex hull: walking the points
    by increasing compute C, a point is kept when its loss L is below the least loss of
    every point kept before it (of two points with the same C, only the lower can be
    kept). Each kept point is the best loss that its budget, or any smaller one, bought.
    It keeps every point of :func:`frontier` and, on a sweep with few runs per budget,
    usually more: enough to fit a power law plus a constant, where the hull may leave
    only three or four points.

    Args:
        compute: compute of each point, in FLOPs (> 0).
        loss: loss of each point (> 0), e.g. in nats/token.
    """
    c, l = _compute_and_loss(compute, loss)
    kept: list[int] = []
    for i in np.lexsort((l, c)):  # by compute, ties by loss
        if kept and (c[kept[-1]] == c[i] or l[i] >= l[kept[-1]]):
            continue
        kept.append(int(i))
    return np.array(kept, dtype=int)
