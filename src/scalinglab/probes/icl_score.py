"""Probe ``"icl_score"``: Olsson et al.'s (2022) in-context learning score at each evaluation.

The validation loss late in the context minus the loss early in it
(:func:`scalinglab.icl.icl_score`), in nats/token; ``None`` when ``n_ctx < 2``.
"""

from __future__ import annotations

from ..icl import icl_score
from .base import Probe, ProbeContext, register


def _measure(context: ProbeContext) -> float | None:
    loss = context.loss_per_position_nats
    return icl_score(loss) if len(loss) >= 2 else None


PROBE = register(Probe(
    name="icl_score",
    when="evaluation",
    measure=_measure,
    description="in-context learning score: loss late in the context minus early (nats/token)",
))
