"""The compute-efficient frontier of many (compute, loss) points: :func:`record_frontier`,
the points whose loss beats every point of less compute (the book's one definition).
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


def record_frontier(compute: ArrayLike, loss: ArrayLike) -> np.ndarray:
    """Indices, by increasing compute, of the points that reach a lower loss than every
    point of less compute: the compute-efficient frontier as the lower envelope.

    Walking the points by increasing compute C, a point is kept when its loss L is below
    the least loss of every point kept before it (of two points with the same C, only the
    lower can be kept). Each kept point is the best loss that its budget, or any smaller
    one, bought; drawn as a staircase (each record holds until the next), it is the least
    loss reached with at most C. Unlike a convex hull it never passes below a point
    that was not reached.

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
