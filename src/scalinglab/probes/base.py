"""The probe protocol and its registry.

A *probe* measures a model during or after training and returns plain JSON. It declares
its ``name``, ``when`` it runs (at every evaluation, or once at the end), which runs it
``applies`` to (e.g. a GPT only: an LSTM has no attention heads), a ``check`` of a
config that names it (e.g. the skills probe needs a skills corpus), and ``measure``,
which gets a :class:`ProbeContext`. The training engine runs the probes a config names
(:attr:`~scalinglab.runs.TrainConfig.evaluation_probes`,
:attr:`~scalinglab.runs.TrainConfig.probes`) and imports nothing from them but this
registry; each probe's file registers it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..corpora import Corpus
from ..model import GPT, LSTM
from ..runs import TrainConfig

WHEN = ("evaluation", "end")


@dataclass(frozen=True)
class ProbeContext:
    """What a probe may look at.

    Attributes:
        model: the model, in eval mode.
        config: the run's config.
        corpus: the run's corpus.
        train_tokens: the training tokens the run draws from (its unique subset, if any).
        window: the first validation window of the evaluation (``n_ctx`` tokens).
        loss_per_position_nats: the evaluation's per-position validation loss
            (nats/token), for probes that run at each evaluation; the last evaluation's
            for probes that run at the end.
    """

    model: GPT | LSTM
    config: TrainConfig
    corpus: Corpus
    train_tokens: np.ndarray
    window: np.ndarray
    loss_per_position_nats: np.ndarray


def _always(config: TrainConfig) -> bool:
    return True


@dataclass(frozen=True)
class Probe:
    """One probe (see the module docstring).

    Attributes:
        name: how configs name it.
        when: ``"evaluation"`` (measured at every evaluation, into ``RunResult.val_probes``)
            or ``"end"`` (measured once on the trained model, into ``RunResult.probes``).
        measure: ``measure(context)`` -> JSON-able data (``None`` where it cannot measure).
        description: one line saying what it measures.
        applies: ``applies(config)`` -> whether it runs for that config at all.
        check: ``check(config)`` raises ``ValueError`` when a config names it wrongly.
    """

    name: str
    when: str
    measure: Callable[[ProbeContext], Any]
    description: str
    applies: Callable[[TrainConfig], bool] = _always
    check: Callable[[TrainConfig], None] | None = None

    def __post_init__(self) -> None:
        if self.when not in WHEN:
            raise ValueError(f"when must be one of {', '.join(map(repr, WHEN))}, got {self.when!r}")


PROBES: dict[str, Probe] = {}
"""The registry: probe name -> :class:`Probe`, filled as the probes' files are imported."""


def register(probe: Probe) -> Probe:
    """Add ``probe`` to :data:`PROBES` (its file calls this once) and return it."""
    if probe.name in PROBES:
        raise ValueError(f"probe {probe.name!r} is registered twice")
    PROBES[probe.name] = probe
    return probe


def check_probes(config: TrainConfig) -> None:
    """Raise ``ValueError`` unless every probe ``config`` names is registered, runs when
    the field it is named in says, and accepts the config."""
    for field_name, when in (("evaluation_probes", "evaluation"), ("probes", "end")):
        for name in getattr(config, field_name):
            names = [n for n, p in PROBES.items() if p.when == when]
            if name not in names:
                raise ValueError(f"{field_name} must name probes among {', '.join(map(repr, names))}, got {name!r}")
            probe = PROBES[name]
            if probe.check is not None:
                probe.check(config)


def measure(names: tuple[str, ...], context: ProbeContext) -> dict[str, Any]:
    """What each of the probes ``names`` that applies to the run measures in ``context``."""
    return {name: PROBES[name].measure(context) for name in names if PROBES[name].applies(context.config)}
