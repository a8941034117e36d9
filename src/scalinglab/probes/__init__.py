"""Probes: plug-ins that measure a model at each evaluation or at the end of training.

The registry and protocol are in :mod:`scalinglab.probes.base`; each other file of this
package registers probes: :mod:`~scalinglab.probes.icl_score` (Olsson et al.'s in-context
learning score), :mod:`~scalinglab.probes.induction` (prefix matching, induction mass,
and the induction circuit at the end), :mod:`~scalinglab.probes.few_shot` (few-shot
accuracy by task, k and description), :mod:`~scalinglab.probes.skills` (held-out sums
and fact recall) and :mod:`~scalinglab.probes.context_windows` (the loss along the context,
window by window, on windows inside documents). A new probe is one new file here (see ARCHITECTURE.md).
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import PROBES, Probe, ProbeContext, check_probes, measure, register

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["PROBES", "Probe", "ProbeContext", "check_probes", "measure", "register"]
