"""The same laws on other kinds of data: four modalities behind one corpus interface.

A *modality* names a corpus of :mod:`scalinglab.corpora` set up as in the recorded
universality ladder (``results/universality_ladder``)::

    config = modality_corpus("images")        # a CorpusConfig
    corpus = make_corpus(config)
    TOKEN_UNITS["images"]                      # what one token is

Every modality is a stream of byte tokens, so the same models, training loop and fits
apply unchanged; only what a token stands for differs. :func:`allocation_by_modality`
reads the allocation experiment's store (``results/universality_allocation``) into one
IsoFLOP analysis per modality, whose exponents :func:`scalinglab.fit.common_exponent` tests
for a shared value; :func:`profile_sharpness` says how sharp each modality's profiles are
against the noise of one run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import one_of, positive_int
from .corpora import CorpusConfig
from .fit import IsoFLOPFit, group_budgets, isoflop_profiles
from .protocol import isoflop_coverage
from .results import RunTable

MODALITIES = ("text", "code", "images", "arithmetic")
"""Names accepted by :func:`modality_corpus`."""

TOKEN_UNITS = {
    "text": "one byte of English prose (standard-library docstrings, UTF-8)",
    "code": "one byte of Python source (standard library, docstrings removed)",
    "images": "one pixel of an 8 x 8 handwritten digit (17 grey levels), row by row",
    "arithmetic": "one character of a two-digit sum, difference or product",
}
"""What one token is, per modality."""

_CORPORA = {
    "text": CorpusConfig(kind="stdlib", n_tokens=8_000_000),
    "code": CorpusConfig(kind="code", n_tokens=8_000_000),
    "images": CorpusConfig(kind="images"),
    "arithmetic": CorpusConfig(kind="arithmetic", n_digits=2, n_tokens=4_000_000),
}
_KIND_MODALITY = {config.kind: name for name, config in _CORPORA.items()} | {
    "docstrings": "text", "package_code": "code", "shapes": "images",
}
"""Every corpus kind that stands for a modality: the recorded ladder's, and the larger
corpora of the allocation experiment (``results/universality_allocation``), which must not
repeat a token inside a run of up to 3e12 FLOPs: the installed packages' docstrings (text)
and source (code), and procedurally generated noisy rectangles (images)."""


def modality_corpus(modality: str, *, n_tokens: int | None = None, seed: int = 0) -> CorpusConfig:
    """The corpus of ``modality`` (one of :data:`MODALITIES`) as the recorded sweeps use it.

    ``n_tokens`` caps its size (text and code read at most that many bytes; arithmetic
    generates that many; images keep at most that many tokens); ``None`` keeps the
    recorded size (8M bytes of text and of code, all 1,797 digits with their shifted
    copies, 4M tokens of arithmetic).
    """
    one_of("modality", modality, MODALITIES)
    base = _CORPORA[modality]
    return base.replace(seed=seed, n_tokens=base.n_tokens if n_tokens is None else positive_int("n_tokens", n_tokens))


def modality_of(corpus: CorpusConfig) -> str:
    """The modality whose corpus kind ``corpus`` has (``ValueError`` for other kinds)."""
    if not isinstance(corpus, CorpusConfig):
        raise ValueError(f"corpus must be a CorpusConfig, got {type(corpus).__name__}")
    one_of("corpus.kind", corpus.kind, tuple(_KIND_MODALITY))
    return _KIND_MODALITY[corpus.kind]


def allocation_by_modality(
    table: RunTable, n_params: str = "result.n_params", *, level: float = 0.9, interior_only: bool = False
) -> dict[str, IsoFLOPFit]:
    """The IsoFLOP analysis of each modality of an allocation store, in :data:`MODALITIES` order.

    For each corpus kind in ``table`` (e.g. ``results/universality_allocation``), the
    :func:`~scalinglab.fit.isoflop_profiles` of final validation loss against the
    parameter count ``n_params`` (a column: ``"result.n_params"`` without the embeddings,
    Kaplan et al.'s count, or ``"result.n_params_with_embedding"``, Hoffmann et al.'s) at
    each run's nominal FLOP budget ``config.flops``, with D_opt from the runs' tokens. A
    modality's runs may differ in their corpus's size ``n_tokens`` (a budget that needs
    more data than the others gets a larger corpus of the same kind), in nothing else.
    A modality with fewer than two budgets that have a minimum has no analysis yet and is
    left out of the result (``isoflop_coverage`` of its runs says what it has). With
    ``interior_only``, a budget whose least loss is not interior (fewer than
    :data:`~scalinglab.protocol.MIN_SIZES_EACH_SIDE` sizes on a side,
    :func:`~scalinglab.protocol.isoflop_coverage`) is left out before the fit: its vertex
    would be an extrapolation.

    Raises:
        ValueError: a run with a token budget rather than a FLOP budget, a corpus kind that
            is no modality, two kinds of one modality, or one kind with two settings.
    """
    fits: dict[str, IsoFLOPFit] = {}
    seen: dict[str, str] = {}
    for kind, runs in table.group_by("config.corpus.kind").items():
        modality = modality_of(runs.results[0].config.corpus)
        if modality in seen:
            raise ValueError(f"table holds two corpora of the modality {modality!r}: {seen[modality]!r} and {kind!r}")
        seen[modality] = kind
        settings = {repr(sorted((k, v) for k, v in r.config.corpus.to_dict().items() if k != "n_tokens"))
                    for r in runs.results}
        if len(settings) > 1:
            raise ValueError(f"the runs on {kind!r} use {len(settings)} settings of the corpus; one is allowed")
        flops = runs.column("config.flops")
        if any(value is None for value in flops):
            raise ValueError(f"every run on {kind!r} must have a FLOP budget (config.flops)")
        if interior_only:
            coverage = isoflop_coverage(flops.astype(float), runs.column(n_params).astype(float),
                                        runs.column("result.final_val_loss_nats").astype(float))
            kept = [b.flops for b in coverage if b.interior]
            runs = runs.filter(lambda run: any(np.isclose(run.result.config.flops, f, rtol=0.01) for f in kept))
            if not len(runs):
                continue
            flops = runs.column("config.flops")
        try:
            fits[modality] = isoflop_profiles(
                flops.astype(float), runs.column(n_params).astype(float),
                runs.column("result.final_val_loss_nats").astype(float),
                n_tokens=runs.column("result.tokens").astype(float), level=level,
            )
        except ValueError as error:
            if "budgets with a minimum" not in str(error):
                raise
    return {modality: fits[modality] for modality in MODALITIES if modality in fits}


@dataclass(frozen=True)
class ProfileSharpness:
    """How sharply a modality's IsoFLOP profiles pick out their minimum, against the noise
    of one run: what sets the width of its allocation exponent's interval.

    Attributes:
        seed_sd_nats: the pooled standard deviation of the final loss between seeds of one
            (budget, size), nats/token: sqrt(sum of squared deviations from each group's
            mean / sum of (seeds - 1)) over the groups with two seeds or more.
        n_groups: how many (budget, size) groups had two seeds or more.
        rise_nats: at each budget of the fit, how far the fitted profile rises a factor of
            2 in N from its vertex, c2 (ln 2)^2, nats/token.
    """

    seed_sd_nats: float
    n_groups: int
    rise_nats: np.ndarray

    @property
    def rise_over_noise(self) -> float:
        """The median rise over the seed noise: below 1, a factor of 2 in size moves the
        loss less than a second seed does, and the vertices wander with the noise."""
        return float(np.median(self.rise_nats) / self.seed_sd_nats)


def profile_sharpness(table: RunTable, fits: dict[str, IsoFLOPFit]) -> dict[str, ProfileSharpness]:
    """:class:`ProfileSharpness` of each modality of ``fits`` (:func:`allocation_by_modality`
    of ``table``), from the runs of ``table`` that share a budget (``config.flops``, within
    1%), a model and a corpus kind but not a seed. A modality without two seeds of any run
    is left out (its noise is not measured)."""
    if not isinstance(table, RunTable):
        raise ValueError(f"table must be a RunTable (load_table), got {type(table).__name__}")
    flops = table.column("config.flops").astype(float)
    groups: dict[tuple[str, int, str], list[float]] = {}
    for budget, members in enumerate(group_budgets(flops)):
        for i in members:
            config = table.results[i].config
            key = (modality_of(config.corpus), budget, repr(config.model))
            groups.setdefault(key, []).append(float(table.results[i].final_val_loss_nats))
    found = {}
    for modality, fit in fits.items():
        repeated = [np.asarray(losses) for (name, _, _), losses in groups.items() if name == modality and len(losses) > 1]
        if not repeated:
            continue
        squares = sum(float(np.sum((losses - losses.mean()) ** 2)) for losses in repeated)
        dof = sum(losses.size - 1 for losses in repeated)
        found[modality] = ProfileSharpness(float(np.sqrt(squares / dof)), len(repeated),
                                           fit.parabolas[:, 0] * np.log(2) ** 2)
    return found
