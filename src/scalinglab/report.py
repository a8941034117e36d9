"""What reproduces here: claims of the lectures and the literature, checked against the recorded stores.

A :class:`Claim` is one sentence the course teaches or a paper reports, the recorded store
it is tested on (``results/NAME``), the value the sentence predicts (``reference``, a
literature constant or computed from the store, e.g. the corpus's entropy rate), and a
``measure(table)`` that fits the store's runs and returns a :class:`Measurement`: the
measured value with its 90% interval. Whether the claim reproduces is never typed: the
claim's :class:`Rule` computes it from the interval (by default, the interval holds the
reference). A store that is missing, or holds too few runs for the fit, gives a row with
no numbers and the note ``"not recorded yet: results/NAME has K runs"``::

    for row in rows():                       # one dict a claim, in the order registered
        print(row["claim"], row["measured"], row["low"], row["high"], row["reproduces"])
    print(to_text(rows()))                   # what ``python -m scalinglab report`` prints

A new claim is one measure function, built from the helpers below (one a kind of fit:
:func:`power_law_in_size`, :func:`chinchilla_law`, :func:`isoflop_law`, and
:func:`from_interval` to read a parameter off a fit), and one :func:`register` call.

Needs no torch: it reads stores with :mod:`scalinglab.results` and fits with
:mod:`scalinglab.fit`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .corpora import CorpusConfig, corpus_kind
from .fit import (
    ChinchillaFit,
    IsoFLOPFit,
    KaplanFit,
    LawFit,
    PowerLawFit,
    common_exponent,
    fit_chinchilla,
    fit_critical_batch,
    fit_critical_batch_size,
    fit_kaplan,
    fit_power_law,
    fit_transfer_law,
    isoflop_profiles,
    quietly,
    steps_and_tokens_to_reach,
)
from .emergence import METRIC_ERRORS, extrapolate_error, metric_error
from .icl import few_shot_slopes, plateau_interval, position_power_law
from .ladders import (
    best_runs,
    few_shot_ladder,
    factor_bound,
    ladder_seed_windows,
    mean_over_seeds,
    parameter_factor_interval,
    tokens_to_loss,
    tokens_to_loss_slope,
)
from .protocol import isoflop_coverage
from .repetition import fit_repetition, repetition_runs
from .universality import MODALITIES, allocation_by_modality, modality_of
from .results import RunTable, load_table, recorded_store
from .transfer import transfer_by_size, transfer_law_points
from .store import STORE_MARKER

LEVEL = 0.9
"""Central probability of every interval of the report."""
N_BOOTSTRAP = 400
"""Bootstrap resamples of every bootstrapped fit."""
SEED = 0
"""Seed of every bootstrap: the same store gives the same rows."""
MIN_SIZES = 4
"""Model sizes a power law in N needs (three parameters, and one point to spare)."""

ROW_KEYS = ("claim", "measured", "low", "high", "reference", "source", "reproduces")
"""The keys every row has (``--json`` writes them); rows also carry ``text``,
``reference_source``, ``rule`` and ``note``."""

VERDICTS = {True: "reproduces", False: "does not reproduce"}
NOT_RECORDED = "not recorded yet"
CANNOT_MEASURE = "cannot be measured"
INCONCLUSIVE = "inconclusive"

SIDES = ("holds", "above", "below", "about")
"""What a :class:`Rule` asks of the interval: that it hold the reference, lie above or below it,
or lie within a factor of it."""

_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


class NotRecordedYet(ValueError):
    """Raised by a measure function when its store lacks runs the fit needs (e.g. too few
    sizes or budgets): the row says "not recorded yet" with this message."""


class CannotMeasure(ValueError):
    """Raised by a measure function when the runs are there but the quantity is undefined
    (e.g. a loss at or below the entropy, whose log excess does not exist, or a fit that
    did not converge): the row says so, with no numbers."""


@dataclass(frozen=True)
class Measurement:
    """What a claim's measure function found in its store.

    Attributes:
        measured: the fitted value.
        low, high: its ``LEVEL`` interval.
        reference: the value the claim predicts when it is computed from the store (the
            corpus's entropy rate); None when the claim's own ``reference`` is a constant.
        note: how it was measured (points, resamples, what was left out).
    """

    measured: float
    low: float
    high: float
    reference: float | None = None
    note: str = ""

    def __post_init__(self) -> None:
        for name in ("measured", "low", "high") + (("reference",) if self.reference is not None else ()):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                    or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if not self.low <= self.high:
            raise ValueError(f"low must not exceed high, got low={self.low}, high={self.high}")


@dataclass(frozen=True)
class Rule:
    """How a claim's verdict follows from its measurement.

    With ``side="holds"`` (a claim that a quantity *equals* the reference) the interval
    [low, high] must hold the reference and, with a ``relative_tolerance``, the measured
    value must also lie within that fraction of the reference. With ``side="above"`` or
    ``"below"`` (a claim that it *exceeds* or *falls short of* the reference, e.g. a slope
    below 0) the whole interval must lie on that side; an interval wholly on the other side
    does not reproduce (an interval that ends at the reference, such as [0, 0] for a claim
    above 0, is on the other side), and one that straddles the reference is inconclusive. With
    ``side="about"`` and a ``factor`` (a claim of "about a hundred tokens") the interval must
    lie within [reference / factor, reference * factor]; one wholly outside it does not
    reproduce, and one that straddles its edge is inconclusive."""

    relative_tolerance: float | None = None
    side: str = "holds"
    factor: float | None = None

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"side must be one of {', '.join(map(repr, SIDES))}, got {self.side!r}")
        if (self.side == "about") != (self.factor is not None):
            raise ValueError(f"factor goes with side='about' (and side='about' needs one), got side={self.side!r}, "
                             f"factor={self.factor!r}")
        if self.factor is not None and (isinstance(self.factor, bool) or not isinstance(self.factor, (int, float))
                                        or not self.factor > 1):
            raise ValueError(f"factor must be a number above 1, got {self.factor!r}")
        if self.side != "holds" and self.relative_tolerance is not None:
            raise ValueError(f"relative_tolerance goes with side='holds' only, got side={self.side!r}")
        tolerance = self.relative_tolerance
        if tolerance is not None and (isinstance(tolerance, bool) or not isinstance(tolerance, (int, float))
                                      or not 0 < tolerance < 1):
            raise ValueError(f"relative_tolerance must be None or a number in (0, 1), got {tolerance!r}")

    def __call__(self, measurement: Measurement, reference: float) -> bool:
        """Whether the claim reproduces."""
        if self.side == "above":
            return bool(measurement.low > reference)
        if self.side == "below":
            return bool(measurement.high < reference)
        if self.side == "about":
            return bool(reference / self.factor <= measurement.low and measurement.high <= reference * self.factor)
        inside = measurement.low <= reference <= measurement.high
        if self.relative_tolerance is None:
            return bool(inside)
        close = abs(measurement.measured - reference) <= self.relative_tolerance * abs(reference)
        return bool(inside and close)

    def decides(self, measurement: Measurement, reference: float) -> bool:
        """Whether the measurement tests the reference: an interval that misses it does (the
        claim does not reproduce), and one that holds it does only if it is no wider than
        the reference's size. A wider one holds almost any value, so that holding this one
        says nothing (the verdict is then "inconclusive")."""
        if self.side == "about":
            low, high = reference / self.factor, reference * self.factor
            return bool(self(measurement, reference) or measurement.high < low or measurement.low > high)
        if self.side == "above":  # wholly above reproduces; at or below the reference does not
            return bool(measurement.low > reference or measurement.high <= reference)
        if self.side == "below":
            return bool(measurement.high < reference or measurement.low >= reference)
        outside = not measurement.low <= reference <= measurement.high
        return bool(outside or measurement.high - measurement.low <= abs(reference))

    def describe(self) -> str:
        """The rule in words."""
        if self.side == "about":
            return (f"the {LEVEL:.0%} interval lies within a factor {self.factor:g} of the reference; one that "
                    "straddles that range's edge is inconclusive")
        if self.side != "holds":
            return (f"the {LEVEL:.0%} interval lies wholly {self.side} the reference; an interval that holds "
                    "it is inconclusive")
        words = f"the {LEVEL:.0%} interval holds the reference"
        if self.relative_tolerance is not None:
            words += f" and the measured value lies within {self.relative_tolerance:.0%} of it"
        return words + "; an interval that holds it but is wider than it is inconclusive"


@dataclass(frozen=True)
class Claim:
    """One claim tested against one recorded store.

    Attributes:
        name: a snake_case id (the ``claim`` of its row).
        claim: the sentence of the lecture or literature that it tests.
        source: the recorded store's name under ``results/`` (``"gpt_zipf_ladder"``).
        reference_source: where the reference comes from ("Kaplan et al. 2020", "corpus
            entropy rate").
        measure: ``measure(table)`` -> :class:`Measurement`, from the store's
            :class:`~scalinglab.results.RunTable`; raises :class:`NotRecordedYet` when the
            store lacks runs it needs, :class:`CannotMeasure` when the quantity is undefined.
        reference: the predicted value when it is a constant (0.73); None when the
            measurement computes it from the store.
        rule: how the verdict follows from the interval (:class:`Rule`).
        min_runs: runs the store must hold before ``measure`` is tried.
    """

    name: str
    claim: str
    source: str
    reference_source: str
    measure: Callable[[RunTable], Measurement]
    reference: float | None = None
    rule: Rule = field(default_factory=Rule)
    min_runs: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"name must be a snake_case id, got {self.name!r}")
        for name in ("claim", "reference_source"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"{name} must be a non-empty string, got {getattr(self, name)!r}")
        if not isinstance(self.source, str) or not self.source or "/" in self.source:
            raise ValueError(f"source must be the name of a store in results/, got {self.source!r}")
        if not callable(self.measure):
            raise ValueError(f"measure must be a function of a RunTable, got {self.measure!r}")
        if self.reference is not None:
            if isinstance(self.reference, bool) or not isinstance(self.reference, (int, float)) \
                    or not math.isfinite(self.reference):
                raise ValueError(f"reference must be None or a finite number, got {self.reference!r}")
            object.__setattr__(self, "reference", float(self.reference))
        if not isinstance(self.rule, Rule):
            raise ValueError(f"rule must be a Rule, got {self.rule!r}")
        if isinstance(self.min_runs, bool) or not isinstance(self.min_runs, int) or self.min_runs < 1:
            raise ValueError(f"min_runs must be a positive integer, got {self.min_runs!r}")

    def evaluate(self, table: RunTable | None) -> dict[str, Any]:
        """This claim's row, measured on ``table`` (None: the store does not exist)."""
        row: dict[str, Any] = {
            "claim": self.name, "measured": None, "low": None, "high": None, "reference": self.reference,
            "source": self.source, "reproduces": None, "text": self.claim,
            "reference_source": self.reference_source, "rule": self.rule.describe(), "note": "",
        }
        recorded = f"{NOT_RECORDED}: results/{self.source} has {0 if table is None else len(table)} runs"
        if table is None or len(table) < self.min_runs:
            row["note"] = recorded + ("" if table is None else f" (this claim needs at least {self.min_runs})")
            return row
        try:
            measurement = self.measure(table)
        except NotRecordedYet as error:
            row["note"] = f"{recorded} ({error})"
            return row
        except CannotMeasure as error:
            row["note"] = f"{CANNOT_MEASURE}: {error}"
            return row
        if not isinstance(measurement, Measurement):
            raise ValueError(f"claim {self.name!r}: measure must return a Measurement, got {measurement!r}")
        reference = self.reference if measurement.reference is None else measurement.reference
        if reference is None:
            raise ValueError(f"claim {self.name!r}: give reference, or return it in the Measurement")
        if self.reference is not None and measurement.reference is not None and measurement.reference != self.reference:
            raise ValueError(f"claim {self.name!r}: the measurement's reference {measurement.reference} "
                             f"contradicts the claim's {self.reference}")
        row.update(measured=measurement.measured, low=measurement.low, high=measurement.high, reference=reference,
                   reproduces=self.rule(measurement, reference), note=measurement.note)
        if not self.rule.decides(measurement, reference):
            if self.rule.side == "holds":
                why = "holds the reference but is wider than it"
            elif self.rule.side == "about":
                why = f"straddles the edge of a factor {self.rule.factor:g} around the reference"
            else:
                why = f"holds the reference (the claim: {self.rule.side} it)"
            row.update(reproduces=None, note=f"{INCONCLUSIVE}: the {LEVEL:.0%} interval {why}; {measurement.note}")
        return row


CLAIMS: dict[str, Claim] = {}
"""The registry: name -> :class:`Claim`, in the order registered (the order of the rows)."""


def register(claim: Claim) -> Claim:
    """Add ``claim`` to :data:`CLAIMS` and return it; a name registered twice is an error."""
    if not isinstance(claim, Claim):
        raise ValueError(f"claim must be a Claim, got {type(claim).__name__}")
    if claim.name in CLAIMS:
        raise ValueError(f"claim {claim.name!r} is registered twice")
    CLAIMS[claim.name] = claim
    return claim


# ---------------------------------------------------------------------------
# Reading the stores


def store_table(name: str, results_dir: str | os.PathLike[str] | None = None) -> RunTable | None:
    """The runs of the store ``name``: in ``results_dir`` when given, else the repository's
    ``results/`` as :func:`~scalinglab.results.recorded_store` finds it; None when there is
    no such store."""
    if results_dir is None:
        try:
            path = recorded_store(name)
        except ValueError:
            return None
    else:
        path = Path(results_dir) / name
        if not (path / STORE_MARKER).exists():
            return None
    return load_table(path)


def rows(results_dir: str | os.PathLike[str] | None = None, claims: list[Claim] | None = None) -> list[dict[str, Any]]:
    """One row a claim (default: every registered claim), measured on the stores in
    ``results_dir`` (default: the repository's ``results/``).

    Each row is a dict with the keys :data:`ROW_KEYS` (``measured``, ``low``, ``high``,
    ``reference`` floats or None; ``reproduces`` True, False or None when not measured or inconclusive),
    plus ``text`` (the claim's sentence), ``reference_source``, ``rule`` and ``note``.

    Raises:
        ValueError: ``results_dir`` is not a directory; a store whose runs break a
            claim's assumptions (e.g. runs on two corpora).
    """
    if results_dir is not None and not Path(results_dir).is_dir():
        raise ValueError(f"results_dir must be a directory of results stores, got {str(results_dir)!r}")
    chosen = list(CLAIMS.values()) if claims is None else claims
    tables: dict[str, RunTable | None] = {}
    found = []
    for claim in chosen:
        if claim.source not in tables:
            tables[claim.source] = store_table(claim.source, results_dir)
        found.append(claim.evaluate(tables[claim.source]))
    return found


def verdict(row: dict[str, Any]) -> str:
    """"reproduces", "does not reproduce", "inconclusive" (measured, but with an interval
    too wide to test the reference), "not recorded yet" or "cannot be measured"."""
    if row["reproduces"] is not None:
        return VERDICTS[row["reproduces"]]
    for words in (INCONCLUSIVE, CANNOT_MEASURE):
        if row.get("note", "").startswith(words):
            return words
    return NOT_RECORDED


def to_text(found: list[dict[str, Any]], *, details: bool = True) -> str:
    """A fixed-width table of ``found`` (rows of :func:`rows`): claim, measured [low, high],
    reference (source), verdict; with ``details``, :func:`describe` below it."""

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g}"

    lines = [("claim", f"measured [{LEVEL:.0%} interval]", "reference (source)", "verdict")]
    for row in found:
        measured = "-" if row["measured"] is None else (
            f"{number(row['measured'])} [{number(row['low'])}, {number(row['high'])}]")
        reference = f"{number(row['reference'])} ({row.get('reference_source', row['source'])})"
        lines.append((row["claim"], measured, reference, verdict(row)))
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    text = "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)
    return text + "\n\n" + describe(found) if details else text


def describe(found: list[dict[str, Any]]) -> str:
    """Each row of ``found`` in words: the claim's sentence, its rule and its note."""
    blocks = []
    for row in found:
        lines = [f"{row['claim']} (results/{row['source']}): {row.get('text', '')}"]
        lines += [f"  {label}{row[key]}" for key, label in (("rule", "rule: "), ("note", "")) if row.get(key)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def where_reference_lies(low: float, high: float, reference: float) -> str:
    """Where ``reference`` lies against the interval [low, high]: "inside", "below it" or
    "above it"; an interval that holds the reference but is wider than |reference| says
    "inside, in an interval wider than the reference: inconclusive"."""
    if math.isnan(low) or math.isnan(high):
        return "no interval"
    if not low <= reference <= high:
        return "below it" if reference < low else "above it"
    return "inside, in an interval wider than the reference: inconclusive" if high - low > abs(reference) else "inside"


def against_references(comparisons: list[tuple[str, float, tuple[float, float], float, str]]) -> str:
    """A fixed-width table of a chapter's numbers against the papers': one row per
    ``(name, ours, (low, high), reference, source)``, with :func:`where_reference_lies`
    and the reference's source."""
    if not comparisons:
        raise ValueError("comparisons must hold at least one row")
    width = max(len(name) for name, *_ in comparisons) + 2
    lines = [f"{'':{width}s}{'ours':>7s}{f'{LEVEL:.0%} interval':>18s}{'reference':>10s}  where the reference lies"]
    for name, value, (low, high), reference, source in comparisons:
        lines.append(f"{name:{width}s}{value:7.3f}{f'[{low:.3f}, {high:.3f}]':>18s}{reference:10.3f}  "
                     f"{where_reference_lies(low, high, reference)} ({source})")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Helpers the measure functions share: the store's corpus, and one a kind of fit


def one_corpus(table: RunTable) -> CorpusConfig:
    """The corpus config every run of ``table`` trained on; ``ValueError`` when there are several."""
    corpora = list(dict.fromkeys(result.config.corpus for result in table.results))
    if len(corpora) != 1:
        raise ValueError(f"the runs of {', '.join(table.sources)} must share one corpus, got {len(corpora)}: "
                         + "; ".join(map(repr, corpora)))
    return corpora[0]


def entropy_rate(table: RunTable) -> float:
    """The entropy rate (nats/token) of the one corpus of ``table``'s runs, from its kind."""
    corpus = one_corpus(table)
    rate = corpus_kind(corpus.kind).entropy_rate_nats
    if rate is None:
        raise ValueError(f"corpus kind {corpus.kind!r} of {', '.join(table.sources)} has no entropy rate")
    return float(rate(corpus))


def _quietly(fit: Callable[[], LawFit]) -> LawFit:
    """``fit()`` without its RuntimeWarnings (``fit.quietly``): what they say is in the
    fit's fields, and the notes report it."""
    with quietly():
        return fit()


def _bootstrap_note(fit: LawFit, of: str) -> str:
    dropped = f" ({fit.n_bootstrap_dropped} more dropped: their fit failed)" if fit.n_bootstrap_dropped else ""
    return f"{fit.n_bootstrap} bootstrap resamples of the {of}{dropped}"


def from_interval(fit: LawFit, parameter: str, note: str, reference: float | None = None) -> Measurement:
    """The Measurement of ``fit``'s ``parameter`` and its interval, with ``note``."""
    if not fit.converged:
        raise CannotMeasure(f"the fit did not converge ({note})")
    low, high = fit.intervals.get(parameter, (math.nan, math.nan))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise CannotMeasure(f"no {LEVEL:.0%} interval for {parameter} ({note})")
    return Measurement(getattr(fit, parameter), low, high, reference, note)


def power_law_in_size(
    table: RunTable, offset: float = 0.0, *, irreducible: bool = True, n_bootstrap: int = N_BOOTSTRAP
) -> tuple[PowerLawFit, str]:
    """``fit_power_law`` of final loss (less ``offset``) against non-embedding parameters,
    bootstrapped by size, and a note saying so.

    Each size is one point: the geometric mean over its runs (seeds) of ``loss - offset``.
    The fit is least squares in log space, so with the same number of seeds at every
    size this is the fit to every run, and resampling the points resamples the sizes
    with all their seeds together.

    Raises:
        NotRecordedYet: fewer than :data:`MIN_SIZES` sizes.
        CannotMeasure: a run's loss at or below ``offset``.
    """
    groups = table.group_by("result.n_params")
    if len(groups) < MIN_SIZES:
        raise NotRecordedYet(f"{len(groups)} model sizes; the fit needs at least {MIN_SIZES}")
    excess = table.column("result.final_val_loss_nats") - offset
    if np.any(excess <= 0):
        raise CannotMeasure(f"{np.count_nonzero(excess <= 0)} of {len(table)} runs have a loss at or below "
                            f"{offset:.4g} nats/token, so log(L - {offset:.4g}) is undefined")
    sizes = np.array(list(groups), dtype=float)
    y = np.array([np.exp(np.mean(np.log(group.column("result.final_val_loss_nats") - offset)))
                  for group in groups.values()])
    fit = _quietly(lambda: fit_power_law(sizes, y, irreducible=irreducible, n_bootstrap=n_bootstrap, seed=SEED,
                                         level=LEVEL))
    seeds = sorted({len(group) for group in groups.values()})
    per_size = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]} to {seeds[-1]}"
    note = f"{len(groups)} sizes ({len(table)} runs, {per_size} a size), {_bootstrap_note(fit, 'sizes')}"
    return fit, note


def chinchilla_law(table: RunTable) -> tuple[ChinchillaFit, str]:
    """``fit_chinchilla`` of final loss on (non-embedding parameters, training tokens),
    bootstrapped by run, and a note saying so."""
    N = table.column("result.n_params").astype(float)
    D = table.column("result.tokens").astype(float)
    L = table.column("result.final_val_loss_nats").astype(float)
    fit = _quietly(lambda: fit_chinchilla(N, D, L, n_bootstrap=N_BOOTSTRAP, seed=SEED, level=LEVEL))
    return fit, f"{len(table)} runs, {_bootstrap_note(fit, 'runs')}"


def isoflop_law(table: RunTable, n_params: str = "result.n_params") -> tuple[IsoFLOPFit, str]:
    """``isoflop_profiles`` of final loss against the parameter count ``n_params`` (a column)
    at each run's FLOP budget (``config.flops``), and a note saying so.

    The interval of ``a`` is isoflop_profiles' Student-t interval of the slope of ln N_opt
    on ln C (it needs three budgets with a minimum).

    Raises:
        ValueError: a run with a token budget rather than a FLOP budget.
        NotRecordedYet: fewer than three budgets with a minimum.
    """
    flops = table.column("config.flops")
    if any(value is None for value in flops):
        raise ValueError(f"every run of {', '.join(table.sources)} must have a FLOP budget (config.flops)")
    N = table.column(n_params).astype(float)
    D = table.column("result.tokens").astype(float)
    L = table.column("result.final_val_loss_nats").astype(float)
    try:
        fit = _quietly(lambda: isoflop_profiles(flops.astype(float), N, L, n_tokens=D, level=LEVEL))
    except ValueError as error:
        raise NotRecordedYet(str(error)) from error
    if fit.budgets.size < 3:
        raise NotRecordedYet(f"{fit.budgets.size} budgets with a minimum; an interval needs 3")
    dropped = f", {len(fit.dropped)} dropped ({', '.join(sorted(set(fit.dropped.values())))})" if fit.dropped else ""
    coverage = isoflop_coverage(flops.astype(float), N, L)
    interior = f"minimum inside the sampled sizes at {sum(b.interior for b in coverage)} of {len(coverage)} budgets"
    return fit, (f"{fit.budgets.size} budgets{dropped}, {fit.n_points} runs; {interior}; "
                 "Student-t interval over the budgets")


# ---------------------------------------------------------------------------
# The claims

def kaplan_law(table: RunTable) -> tuple[KaplanFit, str]:
    """``fit_kaplan`` (with the constant) of each run's early-stopped loss (its best
    validation loss) on (non-embedding parameters, unique training tokens), bootstrapped
    by run, and a note saying so.

    Raises:
        ValueError: a run trained on the whole corpus (no ``unique_tokens``).
    """
    unique = table.column("config.unique_tokens")
    if any(value is None for value in unique):
        raise ValueError(f"every run of {', '.join(table.sources)} must set unique_tokens (the dataset size D)")
    N = table.column("result.n_params").astype(float)
    L = np.array([result.best_val_loss_nats for result in table.results], dtype=float)
    try:
        fit = _quietly(lambda: fit_kaplan(N, unique.astype(float), L, irreducible=True, n_bootstrap=N_BOOTSTRAP,
                                          seed=SEED, level=LEVEL))
    except ValueError as error:  # too few distinct sizes or datasets for the fit yet
        raise NotRecordedYet(str(error)) from error
    if not fit.converged:
        raise CannotMeasure("the fit of L(N, D) did not converge")
    return fit, f"{len(table)} runs (early-stopped), {_bootstrap_note(fit, 'runs')}"


MIN_BATCH_SIZES = 3
"""Batch sizes that must reach a loss for the steps-tokens trade-off at that loss to be fitted."""


def critical_batch_sizes(table: RunTable, n_targets: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(target losses, B_crit in tokens at each), pooled over the models of ``table``: for
    each model trained at :data:`MIN_BATCH_SIZES` batch sizes or more,
    :func:`model_critical_batch_sizes` of its best-lr run at each batch size. Kaplan et al. found B_crit to depend on the loss
    reached, not on the model's size, so the pairs of all models make one curve."""
    losses, b_crit = [], []
    for group in table.group_by("config.model.d_model").values():
        if len({run.value("config.batch_size") for run in group}) >= MIN_BATCH_SIZES:
            try:
                targets, found = model_critical_batch_sizes(best_lr_per_batch_size(group), n_targets)
            except CannotMeasure:  # this model's runs share no range of losses: the others may
                continue
            losses.append(targets)
            b_crit.append(found)
    if not losses:
        raise NotRecordedYet(f"no model has runs at {MIN_BATCH_SIZES} batch sizes")
    losses_nats, b_crit_tokens = np.concatenate(losses), np.concatenate(b_crit)
    keep = np.isfinite(b_crit_tokens) & (b_crit_tokens > 0)
    if keep.sum() < 3:
        raise CannotMeasure(f"the steps-tokens trade-off could be fitted at only {keep.sum()} losses")
    return losses_nats[keep], b_crit_tokens[keep]


def best_lr_per_batch_size(table: RunTable) -> RunTable:
    """For each batch size, the run of least final loss (a batch scan scans the lr at each
    batch size too: the best lr grows with the batch)."""
    best = [min(group, key=lambda run: run.result.final_val_loss_nats)
            for group in table.group_by("config.batch_size").values()]
    best_ids = {run.run_id for run in best}
    return table.filter(lambda run: run.run_id in best_ids)


def model_critical_batch_sizes(table: RunTable, n_targets: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(target losses, B_crit in tokens at each) from runs of one model at several batch sizes.

    The targets are spaced evenly in log loss between the least loss that at least
    :data:`MIN_BATCH_SIZES` batch sizes reach and the least of the losses the runs have after their
    first quarter; at each, :func:`~scalinglab.fit.fit_critical_batch` of the steps and
    tokens each run needed (McCandlish et al. 2018). A B_crit outside the batch sizes
    scanned (in tokens) is an extrapolation of the trade-off, not a measurement: NaN.
    """
    results = table.results
    batch_tokens = np.array([r.config.batch_size * r.config.model.n_ctx for r in results], dtype=float)
    if len(set(batch_tokens)) < MIN_BATCH_SIZES:
        raise NotRecordedYet(f"{len(set(batch_tokens))} batch sizes; the trade-off needs {MIN_BATCH_SIZES}")
    finals = np.sort([min(r.val_loss_nats) for r in results])
    highest = min(r.val_loss_nats[len(r.val_loss_nats) // 4] for r in results)
    lowest = finals[MIN_BATCH_SIZES - 1]
    if not lowest < highest:
        raise CannotMeasure("the runs share no range of losses to compare their steps at")
    targets, b_crit = np.geomspace(highest, lowest, n_targets), []
    for target in targets:
        steps, tokens = steps_and_tokens_to_reach(
            [r.val_tokens for r in results], [r.val_loss_nats for r in results], batch_tokens, float(target))
        reached = np.isfinite(steps)
        enough = reached.sum() >= MIN_BATCH_SIZES
        found = _quietly(lambda: fit_critical_batch(steps, tokens)).B_crit if enough else np.nan
        inside = batch_tokens.min() <= found <= batch_tokens.max()
        b_crit.append(found if inside else np.nan)
    return targets, np.array(b_crit, dtype=float)


KAPLAN_ALLOCATION_EXPONENT = 0.73
"""N_opt ∝ C^0.73, parameters counted without embeddings (Kaplan et al. 2020)."""
CHINCHILLA_ALLOCATION_EXPONENT = 0.5
"""N_opt ∝ C^0.5, parameters counted with embeddings (Hoffmann et al. 2022)."""
ENTROPY_TOLERANCE = 0.02
"""How close (a fraction of the entropy) a free fit's constant must come to the entropy."""


def _irreducible_loss(table: RunTable) -> Measurement:
    fit, note = power_law_in_size(table)
    return from_interval(fit, "E", f"E of L(N) = E + (N0/N)^alpha: {note}", entropy_rate(table))


def _exponent_at_entropy(table: RunTable) -> Measurement:
    corpus = one_corpus(table)
    if "zipf_exponent" not in corpus_kind(corpus.kind).all_parameters:
        raise ValueError(f"the runs of {', '.join(table.sources)} must be on a Zipf corpus, got kind {corpus.kind!r}")
    fit, note = power_law_in_size(table, entropy_rate(table), irreducible=False)
    return from_interval(fit, "alpha", f"alpha of L(N) - H = (N0/N)^alpha: {note}", corpus.zipf_exponent - 1)


def _chinchilla_irreducible_loss(table: RunTable) -> Measurement:
    fit, note = chinchilla_law(table)
    return from_interval(fit, "E", f"E of L(N, D) = E + A/N^alpha + B/D^beta: {note}", entropy_rate(table))


def _allocation(n_params: str) -> Callable[[RunTable], Measurement]:
    def measure(table: RunTable) -> Measurement:
        fit, note = isoflop_law(table, n_params)
        return from_interval(fit, "a", f"a of N_opt ∝ C^a ({n_params}): {note}")

    return measure


register(Claim(
    name="zipf_irreducible_loss",
    claim="The constant E of the power law L(N) = E + (N0/N)^alpha in model size is the entropy rate "
          "of the data: the loss no model can beat.",
    source="gpt_zipf_ladder",
    reference_source="corpus entropy rate",
    measure=_irreducible_loss,
    rule=Rule(relative_tolerance=ENTROPY_TOLERANCE),
    min_runs=MIN_SIZES,
))

register(Claim(
    name="zipf_exponent_at_entropy",
    claim="When rules are used with Zipf frequencies p_k ∝ k^-(1+q) (q = zipf_exponent - 1), the loss "
          "above the entropy falls as N^-q: the quantization model.",
    source="gpt_zipf_ladder",
    reference_source="Michaud et al. 2023",
    measure=_exponent_at_entropy,
    min_runs=MIN_SIZES,
))

register(Claim(
    name="chinchilla_form_irreducible_loss",
    claim="The constant E of the Chinchilla form L(N, D) = E + A/N^alpha + B/D^beta is the entropy "
          "rate of the data.",
    source="isoflop_zipf_1k",
    reference_source="corpus entropy rate",
    measure=_chinchilla_irreducible_loss,
    min_runs=10,
))

for name, counting, n_params, reference_source, reference in (
    ("allocation_exponent_non_embedding", "Counting parameters without the embeddings", "result.n_params",
     "Kaplan et al. 2020", KAPLAN_ALLOCATION_EXPONENT),
    ("allocation_exponent_all_parameters", "Counting every parameter, embeddings included",
     "result.n_params_with_embedding", "Hoffmann et al. 2022", CHINCHILLA_ALLOCATION_EXPONENT),
):
    register(Claim(
        name=name,
        claim=f"{counting}, the compute-optimal size grows as N_opt ∝ C^{reference}.",
        source="isoflop_zipf_1k",
        reference_source=reference_source,
        reference=reference,
        measure=_allocation(n_params),
        min_runs=9,
    ))


SHARED_EXPONENT_P_VALUE = 0.05
"""Below this p-value of the F test, the modalities' allocation exponents are taken to differ."""


def _universal_allocation(n_params: str) -> Callable[[RunTable], Measurement]:
    def measure(table: RunTable) -> Measurement:
        every = _quietly(lambda: allocation_by_modality(table, n_params, level=LEVEL))
        missing = [m for m in MODALITIES if m not in every or every[m].budgets.size < 3]
        if missing:
            raise NotRecordedYet(f"{', '.join(missing)}: fewer than 3 budgets with a minimum")
        fits = _quietly(lambda: allocation_by_modality(table, n_params, level=LEVEL, interior_only=True))
        short = [m for m in MODALITIES if m not in fits or fits[m].budgets.size < 3]
        if short:  # a vertex at the edge of its profile is an extrapolation, not a measurement
            counts = ", ".join(f"{m} {fits[m].budgets.size if m in fits else 0}" for m in short)
            raise CannotMeasure(f"fewer than 3 budgets whose minimum is interior: {counts} (more sizes are needed "
                                "there); with every budget, " + "; ".join(
                                    f"{m} a = {fit.a:.2f}" for m, fit in every.items()))
        common = common_exponent(list(fits.values()), level=LEVEL)
        if not math.isfinite(common.p_value):
            raise CannotMeasure("every vertex lies exactly on its modality's line: the F test is undefined")
        each = "; ".join(f"{m} {fit.a:.2f} [{fit.intervals['a'][0]:.2f}, {fit.intervals['a'][1]:.2f}]"
                         for m, fit in fits.items())
        interior = []
        for runs in table.group_by("config.corpus.kind").values():
            coverage = isoflop_coverage(runs.column("config.flops").astype(float),
                                        runs.column(n_params).astype(float),
                                        runs.column("result.final_val_loss_nats").astype(float))
            modality = modality_of(runs.results[0].config.corpus)
            interior.append(f"{modality} {sum(b.interior for b in coverage)}/{len(coverage)}")
        note = (f"budgets whose minimum is interior only; each modality's a ({n_params}): {each}; "
                f"F test of one exponent: F = {common.f_statistic:.2f}, "
                f"p = {common.p_value:.3f}; budgets whose minimum is interior: {', '.join(interior)}")
        if common.p_value < SHARED_EXPONENT_P_VALUE:
            raise CannotMeasure(f"the modalities do not share one exponent: {note}")
        return Measurement(common.a, *common.interval, note=f"common a of {common.n_vertices} vertices; {note}")

    return measure


for name, counting, n_params, reference_source, reference in (
    ("universal_allocation_exponent", "Counting parameters without the embeddings", "result.n_params",
     "Henighan et al. 2020; Kaplan et al. 2020", KAPLAN_ALLOCATION_EXPONENT),
    ("universal_allocation_exponent_all_parameters", "Counting every parameter, embeddings included",
     "result.n_params_with_embedding", "Hoffmann et al. 2022", CHINCHILLA_ALLOCATION_EXPONENT),
):
    register(Claim(
        name=name,
        claim=f"{counting}, the compute-optimal size grows with compute at one rate for text, code, images "
              f"and arithmetic alike (an F test does not reject one exponent), and that rate is "
              f"N_opt ∝ C^{reference}.",
        source="universality_allocation",
        reference_source=reference_source,
        reference=reference,
        measure=_universal_allocation(n_params),
        min_runs=36,  # four modalities, three budgets each, three sizes each
    ))


KAPLAN_OVERFITTING_EXPONENT = 0.74
"""The data needed to avoid overfitting grows as D ∝ N^0.74 (Kaplan et al. 2020, eq. 4.4: alpha_N / alpha_D)."""
KAPLAN_CRITICAL_BATCH_EXPONENT = 0.21
"""B_crit(L) ∝ L^(-1/alpha_B) with alpha_B ≈ 0.21 (Kaplan et al. 2020, eq. 5.3)."""


def _overfitting_exponent(table: RunTable) -> Measurement:
    fit, note = kaplan_law(table)
    return from_interval(fit, "overfitting_exponent", f"alpha_N / alpha_D of L(N, D): {note}")


def _critical_batch_exponent(table: RunTable) -> Measurement:
    targets, b_crit = critical_batch_sizes(table)
    fit = _quietly(lambda: fit_critical_batch_size(targets, b_crit, n_bootstrap=N_BOOTSTRAP, seed=SEED, level=LEVEL))
    return from_interval(fit, "alpha_B", f"alpha_B of B_crit(L) = B*/L^(1/alpha_B) at {len(targets)} losses: "
                                         f"{_bootstrap_note(fit, 'losses')}")


register(Claim(
    name="kaplan_overfitting_exponent",
    claim=f"To avoid overfitting, the data must grow with model size as D ∝ N^{KAPLAN_OVERFITTING_EXPONENT} "
          f"(alpha_N / alpha_D of L(N, D)).",
    source="overfitting_zipf",
    reference_source="Kaplan et al. 2020",
    reference=KAPLAN_OVERFITTING_EXPONENT,
    measure=_overfitting_exponent,
    min_runs=9,
))

register(Claim(
    name="critical_batch_size_exponent",
    claim=f"The critical batch size grows as the loss falls, B_crit ∝ L^(-1/alpha_B) with alpha_B ≈ "
          f"{KAPLAN_CRITICAL_BATCH_EXPONENT}: the lower the loss, the bigger the batch that still pays.",
    source="batch_scan_zipf",
    reference_source="Kaplan et al. 2020",
    reference=KAPLAN_CRITICAL_BATCH_EXPONENT,
    measure=_critical_batch_exponent,
    min_runs=4,
))


# ---------------------------------------------------------------------------
# Transformers against LSTMs on real text, and along the context (results/arch_ladder_docstrings)

LECTURE_LSTM_FACTOR = 5.0
"""The lower end of the lecture's "transformers need 5-10x fewer parameters than LSTMs" (Kaplan et al. 2020, fig. 7)."""
KAPLAN_LSTM_PLATEAU_POSITION = 100.0
"""The position after which an LSTM's loss stops falling along the context (Kaplan et al. 2020, fig. 7, right)."""
PLATEAU_FACTOR = 2.0
""""About a hundred tokens": a plateau position within this factor of the reference."""
CONTEXT_TOLERANCE_NATS = 0.05
"""A curve has stopped falling along the context where it stays within this of its last bin's loss. It must
exceed the noise of the difference between two bins' losses on the probe's 512 windows (the intervals of
the gain along the context in "Loss along the context" show that noise), or noise decides."""
MAX_UNDECIDED_FRACTION = 0.1
"""A bootstrap that cannot decide more than this fraction of its resamples gives no interval."""
SAMPLE_EFFICIENCY_MARGIN = 1.02
"""The target loss of the sample-efficiency claim: the smallest model's final loss times this."""


def _ladders(table: RunTable) -> dict[str, tuple[np.ndarray, list, list]]:
    """arch -> (sizes, each size's windows averaged over its seeds, each size's seeds' windows)."""
    found = {}
    for arch in ("gpt", "lstm"):
        sizes, seeds = ladder_seed_windows(table, arch)
        found[arch] = (sizes, [mean_over_seeds(s) for s in seeds], seeds)
    for arch, (sizes, *_) in found.items():
        if len(sizes) < MIN_SIZES:
            raise NotRecordedYet(f"{len(sizes)} {arch} sizes; the comparison needs at least {MIN_SIZES}")
    return found


def _ladder_note(table: RunTable, found: dict[str, tuple[np.ndarray, list, list]]) -> str:
    sizes = ", ".join(f"{len(s)} {arch} sizes ({s[0]:,.0f}-{s[-1]:,.0f} parameters)" for arch, (s, *_) in found.items())
    n_windows = len(next(iter(found.values()))[1][0].window_document)
    return (f"{sizes}, each at the best lr of its scan ({len(table)} runs); "
            f"{N_BOOTSTRAP} bootstrap resamples of the validation documents ({n_windows} windows inside documents)")


def _lstm_parameter_factor(table: RunTable) -> Measurement:
    found = _ladders(table)
    (gpt_n, gpt_windows, gpt_seeds), (lstm_n, lstm_windows, lstm_seeds) = found["gpt"], found["lstm"]
    gpt_loss = [w.window_loss_nats.mean() for w in gpt_windows]
    lstm_loss = [w.window_loss_nats.mean() for w in lstm_windows]
    bound = factor_bound(gpt_n, gpt_loss, lstm_n, lstm_loss)
    if bound is not None and bound.at_most:
        return Measurement(bound.value, 0.0, bound.value, note=(
            f"an upper bound: every LSTM, the smallest ({lstm_n.min():,.0f} parameters, {max(lstm_loss):.3f} nats) "
            f"included, beats every GPT (the best, {min(gpt_loss):.3f} nats), so at every GPT size the LSTM needs at "
            f"most N_LSTM,min / N_GPT of its parameters, largest at the smallest GPT: {_ladder_note(table, found)}"))
    if bound is not None:
        return Measurement(bound.value, bound.value, bound.value, note=(
            f"a lower bound: every GPT, the smallest included, beats every LSTM, so the LSTM needs more than "
            f"N_LSTM,max / N_GPT of a GPT's parameters, smallest at the largest GPT: {_ladder_note(table, found)}"))
    try:
        factor = parameter_factor_interval(gpt_n, gpt_seeds, lstm_n, lstm_seeds, n_bootstrap=N_BOOTSTRAP,
                                           level=LEVEL, seed=SEED)
    except ValueError as error:
        raise CannotMeasure(f"{error} ({_ladder_note(table, found)})") from None
    if factor.n_undecided > MAX_UNDECIDED_FRACTION * N_BOOTSTRAP:
        raise CannotMeasure(f"{factor.n_undecided} of {N_BOOTSTRAP} resamples put one GPT's loss above and another's "
                            f"below the LSTM ladder ({_ladder_note(table, found)})")
    matched = int(np.count_nonzero(np.isfinite(factor.factor) & (factor.factor > 0)))
    censored = (f" ({factor.n_censored} resamples put a GPT's loss outside the LSTM ladder, counted as a factor of 0 or "
                f"infinity)") if factor.n_censored else ""
    return Measurement(factor.geometric_mean, factor.mean_low, factor.mean_high, note=(
        f"geometric mean over the {matched} GPT sizes whose loss the LSTM ladder spans of N_LSTM(L) / N_GPT: "
        f"{_ladder_note(table, found)}, and each size's seeds{censored}"))


def _lstm_plateau_position(table: RunTable) -> Measurement:
    found = _ladders(table)
    plateau = plateau_interval(found["lstm"][1][-1], tolerance_nats=CONTEXT_TOLERANCE_NATS, n_bootstrap=N_BOOTSTRAP,
                               level=LEVEL, seed=SEED)
    return Measurement(plateau.position, plateau.low, plateau.high, note=(
        f"the largest LSTM's first position within {CONTEXT_TOLERANCE_NATS} nats of its loss at the end of the "
        f"context: {_ladder_note(table, found)}"))


def _gpt_position_power_law(table: RunTable) -> Measurement:
    found = _ladders(table)
    start = int(KAPLAN_LSTM_PLATEAU_POSITION)
    fit = position_power_law(found["gpt"][1][-1], first_position=start, n_bootstrap=N_BOOTSTRAP, level=LEVEL,
                             seed=SEED)
    return from_interval(fit, "alpha", f"alpha_t of the largest GPT's L(t) = E + (t0/t)^alpha_t over the {fit.n_points} "
                                       f"position bins from {start} to the end of the context (a resample that does "
                                       f"not fall there counts as alpha_t = 0): {_ladder_note(table, found)}")


def _bigger_models_more_sample_efficient(table: RunTable) -> Measurement:
    gpt = best_runs(table).filter(lambda run: run.result.config.model.arch == "gpt")
    if len(gpt.group_by("result.n_params")) < MIN_SIZES:
        raise NotRecordedYet(f"{len(gpt.group_by('result.n_params'))} GPT sizes; the fit needs at least {MIN_SIZES}")
    n = gpt.column("result.n_params").astype(float)
    target = float(np.max(gpt.column("result.final_val_loss_nats")[n == n.min()])) * SAMPLE_EFFICIENCY_MARGIN
    slope = tokens_to_loss_slope(n, tokens_to_loss(gpt, target), level=LEVEL)
    return Measurement(slope.slope, slope.low, slope.high, note=(
        f"slope of log(tokens to reach {target:.3f} nats) on log N over {slope.n_points} GPT runs at their best lr "
        f"({SAMPLE_EFFICIENCY_MARGIN:g}x the smallest model's final loss), Student-t interval"))


register(Claim(
    name="lstm_parameter_factor",
    claim=f"On text, a transformer needs several times fewer parameters than an LSTM for the same loss: at "
          f"least {LECTURE_LSTM_FACTOR:g}x (the lecture: 5-10x).",
    source="arch_ladder_docstrings",
    reference_source="Kaplan et al. 2020",
    reference=LECTURE_LSTM_FACTOR,
    rule=Rule(side="above"),
    measure=_lstm_parameter_factor,
    min_runs=2 * MIN_SIZES,
))

register(Claim(
    name="lstm_context_plateau_position",
    claim=f"Along the context an LSTM stops improving after about {KAPLAN_LSTM_PLATEAU_POSITION:.0f} tokens "
          f"(within a factor {PLATEAU_FACTOR:g}).",
    source="arch_ladder_docstrings",
    reference_source="Kaplan et al. 2020",
    reference=KAPLAN_LSTM_PLATEAU_POSITION,
    rule=Rule(side="about", factor=PLATEAU_FACTOR),
    measure=_lstm_plateau_position,
    min_runs=2 * MIN_SIZES,
))

register(Claim(
    name="gpt_position_power_law",
    claim=f"A transformer's loss keeps falling along the context where an LSTM's has stopped: past position "
          f"{KAPLAN_LSTM_PLATEAU_POSITION:.0f} it still falls as a power law in the position, "
          f"L(t) = E + (t0/t)^alpha_t with alpha_t > 0.",
    source="arch_ladder_docstrings",
    reference_source="Kaplan et al. 2020",
    reference=0.0,
    rule=Rule(side="above"),
    measure=_gpt_position_power_law,
    min_runs=2 * MIN_SIZES,
))

register(Claim(
    name="bigger_models_more_sample_efficient",
    claim="Larger models are more sample-efficient: they reach a given loss in fewer tokens "
          "(the slope of log D(L) on log N is below 0).",
    source="arch_ladder_docstrings",
    reference_source="Kaplan et al. 2020",
    reference=0.0,
    rule=Rule(side="below"),
    measure=_bigger_models_more_sample_efficient,
    min_runs=MIN_SIZES,
))


# ---------------------------------------------------------------------------
# Few-shot learning (results/icl_fewshot)


def _few_shot_slope_grows(table: RunTable) -> Measurement:
    try:
        sizes, ladder = few_shot_ladder(table)
    except ValueError as error:  # records of the older probe, without each prompt's outcome
        raise NotRecordedYet(f"{error} (the probe of 300 prompts keeps them)") from None
    if len(sizes) < 2:
        raise NotRecordedYet(f"{len(sizes)} GPT sizes with the few_shot probe; the comparison needs two")
    slopes = few_shot_slopes(ladder, n_bootstrap=N_BOOTSTRAP, level=LEVEL, seed=SEED)
    trend, low, high = slopes.trend(sizes)
    difference, end_low, end_high = slopes.difference(len(sizes) - 1, 0)
    seeds = ", ".join(str(outcomes.correct.shape[0]) for outcomes in ladder)
    return Measurement(trend, low, high, note=(
        f"least-squares slope, on log2 N over all {len(sizes)} GPT sizes (N = {sizes[0]:,.0f} to {sizes[-1]:,.0f}, "
        f"each at its best lr; seeds {seeds}), of each size's few-shot slope: the mean accuracy over the tasks "
        f"(without the description) on log2 k, k >= 1; {N_BOOTSTRAP} paired bootstrap resamples of the "
        f"{ladder[0].n_prompts} prompts (the same for every size) and of each size's seeds. The largest minus the "
        f"smallest alone: {difference:+.4f} [{end_low:+.4f}, {end_high:+.4f}]"))


register(Claim(
    name="few_shot_slope_grows_with_size",
    claim="Larger models learn more from each example in the prompt: the few-shot accuracy rises faster "
          "with the number of examples k for a larger model (the rise per doubling of k grows with N).",
    source="icl_fewshot",
    reference_source="Brown et al. 2020",
    reference=0.0,
    rule=Rule(side="above"),
    measure=_few_shot_slope_grows,
    min_runs=2,
))


MUENNIGHOFF_R_STAR = 15.4
"""R*_D of the data-constrained law: repeated tokens lose worth over about 15 repetitions
(Muennighoff et al. 2023)."""
MIN_REPETITION_RUNS = 4
"""Fresh runs, and repeated runs still improving at their end, that a size needs for its fit."""


def _repetition_r_star(table: RunTable) -> Measurement:
    sizes = repetition_runs(table)
    fits = {}
    for n_params, runs in sizes.items():
        improving = runs.still_improving()
        if (runs.fresh & improving).sum() < MIN_REPETITION_RUNS or (~runs.fresh & improving).sum() < MIN_REPETITION_RUNS:
            continue
        fits[n_params] = _quietly(lambda: fit_repetition(runs, n_bootstrap=N_BOOTSTRAP, seed=SEED, level=LEVEL))
    if not fits:
        raise NotRecordedYet(f"no size has {MIN_REPETITION_RUNS} fresh and {MIN_REPETITION_RUNS} repeated runs "
                             "still improving at their end")
    largest = max(fits)
    fit = fits[largest]
    if not fit.converged:
        raise CannotMeasure(f"the fit of the {largest:,}-parameter runs did not converge")
    each = "; ".join(f"N = {n:,}: R* = {f.r_star:.1f} [{f.intervals['r_star'][0]:.1f}, {f.intervals['r_star'][1]:.1f}] "
                     f"from {f.n_points} runs" for n, f in fits.items())
    overfit = int((~sizes[largest].still_improving()).sum())
    return Measurement(fit.r_star, *fit.intervals["r_star"], note=(
        f"the largest size (N = {largest:,}); its final losses of fresh and repeated runs, {overfit} of its runs "
        f"that overfit left out; {_bootstrap_note(fit, 'runs')}; each size: {each}"))


register(Claim(
    name="repetition_r_star",
    claim="Repeated data loses its worth over about 15 repetitions: k epochs over U unique tokens are worth "
          "D' = U (1 + R* (1 - exp(-(k - 1)/R*))) fresh tokens, with R* = 15.4.",
    source="repetition_zipf_1k",
    reference_source="Muennighoff et al. 2023",
    reference=MUENNIGHOFF_R_STAR,
    measure=_repetition_r_star,
    min_runs=2 * MIN_REPETITION_RUNS,
))


EXTRAPOLATED_METRIC = "answer_loss_nats"
"""The smooth metric that the emergence claim extrapolates (the loss on the answer)."""
MIN_EMERGENCE_SIZES = 4
"""Sizes an extrapolation needs: three to fit below the largest, and the largest."""


def _emergence_extrapolation(table: RunTable) -> Measurement:
    n_params = table.column("result.n_params").astype(float)
    sizes = np.unique(n_params)
    if sizes.size < MIN_EMERGENCE_SIZES:
        raise NotRecordedYet(f"{sizes.size} sizes; the extrapolation needs {MIN_EMERGENCE_SIZES}")
    fewest_seeds = min(int((n_params == size).sum()) for size in sizes)
    if fewest_seeds < 2:
        raise NotRecordedYet("a size with one seed; the interval resamples the seeds of every size, so it needs 2")
    found = {}
    for metric in METRIC_ERRORS:
        errors = metric_error(metric, table.column(f"result.probes.skills.addition.{metric}"))
        try:
            found[metric] = extrapolate_error(n_params, errors, target_n_params=float(sizes[-1]),
                                              n_bootstrap=N_BOOTSTRAP, seed=SEED, level=LEVEL)
        except ValueError as error:  # an error of 0 at a fitted size has no log
            if metric == EXTRAPOLATED_METRIC:
                raise CannotMeasure(str(error)) from error
    chosen = found[EXTRAPOLATED_METRIC]
    seeds = len(table) / sizes.size
    each = "; ".join(f"{METRIC_ERRORS[m]}: measured / predicted = {e.ratio:.2f} "
                     f"[{e.ratio_interval[0]:.2f}, {e.ratio_interval[1]:.2f}]" for m, e in found.items())
    return Measurement(chosen.ratio, *chosen.ratio_interval, note=(
        f"a power law in N fitted to the {chosen.fitted_n_params.size} smaller sizes, extrapolated to "
        f"N = {chosen.target_n_params:,.0f} ({seeds:.0f} seeds a size; {N_BOOTSTRAP} bootstrap resamples of the "
        f"seeds within each size); {each}"))


register(Claim(
    name="emergence_metric_extrapolation",
    claim="A metric that improves smoothly with size predicts the largest model from the smaller ones: the "
          "loss on the answers to held-out sums, over what a power law fitted to the smaller models predicts, "
          "is 1 (whereas exact match jumps).",
    source="emergence_ladder",
    reference_source="Schaeffer et al. 2023",
    reference=1.0,
    measure=_emergence_extrapolation,
    min_runs=MIN_EMERGENCE_SIZES,
))


HERNANDEZ_DATA_EXPONENT = 0.18
"""alpha of D_T = k D_F^alpha N^beta, text to Python (Hernandez et al. 2021)."""
HERNANDEZ_SIZE_EXPONENT = 0.38
"""beta of the same fit."""
MIN_TRANSFER_SIZES = 3
"""Model sizes the transfer law needs (a beta, and a degree of freedom)."""


def _transfer_exponent(parameter: str) -> Callable[[RunTable], Measurement]:
    def measure(table: RunTable) -> Measurement:
        sizes = {n: s for n, s in transfer_by_size(table).items()
                 if s.scratch_tokens.size >= 2 and s.fine_tuning_tokens.size}
        if len(sizes) < MIN_TRANSFER_SIZES:
            raise NotRecordedYet(f"{len(sizes)} sizes with fine-tuned and from-scratch runs; the law needs "
                                 f"{MIN_TRANSFER_SIZES}")
        edges = [f"d_model {s.d_model} {kind} D = {d:,.0f}" for s in sizes.values()
                 for kind, tokens, interior in (("fine-tuned", s.fine_tuning_tokens, s.fine_tuned_lr_interior),
                                                ("from scratch", s.scratch_tokens, s.scratch_lr_interior))
                 for d, inside in zip(tokens, interior) if not inside]
        if edges:
            raise CannotMeasure(f"the best lr sits at the edge of the rates tried for {', '.join(edges)} "
                                "(extend those scans)")
        points = transfer_law_points(sizes)
        d_t = points.transferred_tokens
        usable = int(np.sum(np.isfinite(d_t) & (d_t > 0)))
        left_out = f"{points.in_warmup} points whose best came inside the warm-up left out"
        if usable < 4:
            raise CannotMeasure(f"{usable} points with a measured D_T > 0 (the law needs 4); {left_out}")
        fit = _quietly(lambda: fit_transfer_law(points.fine_tuning_tokens, points.n_params, d_t, level=LEVEL))
        seeds = sorted({int(k) for s in sizes.values() for k in (*s.fine_tuned_n_seeds, *s.scratch_n_seeds)})
        note = (f"D_T = k D_F^alpha N^beta over {fit.n_points} points of {len(sizes)} sizes, each at its best lr "
                f"(chosen on the seeds every rate has) and the mean of its {' or '.join(map(str, seeds))} seeds there; "
                f"{left_out}; Student-t interval")
        return from_interval(fit, parameter, note)

    return measure


for name, parameter, reference, words in (
    ("transfer_data_exponent", "alpha", HERNANDEZ_DATA_EXPONENT,
     "grows with the fine-tuning data as D_F^0.18"),
    ("transfer_size_exponent", "beta", HERNANDEZ_SIZE_EXPONENT, "grows with the model's size as N^0.38"),
):
    register(Claim(
        name=name,
        claim=f"What pre-training on text is worth in tokens of code, the effective data transferred D_T, {words} "
              "(D_T = k D_F^alpha N^beta, fine-tuning to the early-stopped best).",
        source="transfer_finetune",
        reference_source="Hernandez et al. 2021",
        reference=reference,
        measure=_transfer_exponent(parameter),
        min_runs=MIN_TRANSFER_SIZES * 4,
    ))
