"""Fitting the scaling laws.

This module grows with the book; it starts with the compute-efficient frontier.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _positive_finite(name: str, values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    if not np.all(array > 0):
        raise ValueError(f"{name} must be positive, got minimum {array.min()!r}")
    return array


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
    c = _positive_finite("compute", compute)
    l = _positive_finite("loss", loss)
    if c.shape != l.shape:
        raise ValueError(f"compute and loss must have the same length, got {c.size} and {l.size}")
    x, y = np.log(c), np.log(l)
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
