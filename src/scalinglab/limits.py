"""The limits of scale: calculators for the data wall, effective compute, inference and repeated data.

Four closed-form pictures, each a handful of small functions whose assumptions are
arguments, so that a notebook can show them as named variables and change them:

* **The data wall.** A compute-optimal model trained with ``C`` FLOPs wants
  ``D = sqrt(r C / 6)`` tokens (``D = r N`` tokens per parameter and ``C = 6 N D``).
  Compute grows as ``C(y) = C0 g_C^(y - y0)`` and a stock of text as
  ``S(y) = S0 g_S^(y - y0)``; the need meets the stock where, in logs,
  ``ln sqrt(r C0 / 6) + (y - y0) ln(g_C) / 2 = ln S0 + (y - y0) ln g_S``.
  :data:`TEXT_STOCKS` holds a few stocks, in tokens, as visible assumptions.
* **Effective compute in orders of magnitude (OOMs).** Physical compute, algorithmic
  efficiency and "unhobbling" each add OOMs per year; their sum is the growth of
  effective compute, ``10^total`` as a factor (:func:`effective_compute_ooms`).
* **Inference cost.** Generating one token at batch size 1 reads every weight once
  (``N bits / 8`` bytes) and costs ``2 N`` FLOPs, so tokens per second are at most
  ``bandwidth / weight bytes`` and ``FLOP/s / 2N``: a roofline estimate.
* **Repeated data.** ``U`` unique tokens seen for ``R = epochs - 1`` extra epochs are
  worth ``D' = U + U R* (1 - exp(-R / R*))`` fresh tokens (Muennighoff et al., 2023).
  The law of loss against epochs built on it is fitted by
  :func:`scalinglab.fit.fit_data_constrained`.

Units: FLOPs, tokens, parameters (counts), bytes, bytes/s, FLOP/s, years (calendar
years, fractional allowed), and OOMs (base-10 logarithms of factors). Growth rates are
multiplicative factors per year (1.07 is 7% a year).

Sources named below:

- Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models",
  arXiv:2203.15556 (about 20 tokens per parameter; :data:`scalinglab.fermi.CHINCHILLA`).
- Villalobos et al. (2022), "Will we run out of data? An analysis of the limits of
  scaling datasets in Machine Learning", arXiv:2211.04325 (v1): the stock of language
  data "currently grows by 7% yearly"; high-quality language data of roughly 1e12 to
  1e13 words, exhausted "likely before 2026".
- Villalobos et al. (2024), "Will we run out of data? Limits of LLM scaling based on
  human-generated data", arXiv:2211.04325 (v2): an effective stock of public human text
  of about 3e14 tokens (90% interval 1e14 to 1e15).
- Lozhkov et al. (2024), "StarCoder 2 and The Stack v2: The Next Generation",
  arXiv:2402.19173: The Stack v2's training set, about 900 billion unique code tokens.
- Sevilla et al. (2022), "Compute Trends Across Three Eras of Machine Learning",
  arXiv:2202.05924: training compute doubling about every 6 months since 2010;
  Sevilla and Roldán (2024), Epoch AI, "Training compute of frontier AI models grows by
  4-5x per year".
- Ho et al. (2024), "Algorithmic progress in language models", arXiv:2403.05812: the
  compute needed to reach a fixed performance halves about every 8 months (95% CI 5 to
  14 months).
- Aschenbrenner (2024), "Situational Awareness: The Decade Ahead" ("unhobbling").
- Muennighoff et al. (2023), "Scaling Data-Constrained Language Models",
  arXiv:2305.16264: effective data under repetition, fitted R*_D = 15.4.
- The devices of the inference calculators (:data:`scalinglab.fermi.RASPBERRY_PI_5`,
  :data:`scalinglab.fermi.H100_SXM`) are in the hardware table of
  :mod:`scalinglab.fermi`, with their sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from . import fermi
from ._checks import (
    non_negative_float,
    one_of,
    positive_array,
    positive_float,
    positive_int,
)

#: Tokens per parameter of a compute-optimal model: Chinchilla's 1.4e12 tokens over
#: 70e9 parameters, exactly 20 (Hoffmann et al., 2022).
CHINCHILLA_TOKENS_PER_PARAMETER = fermi.tokens_per_parameter(fermi.CHINCHILLA.n_tokens, fermi.CHINCHILLA.stated_params)


def _real(name: str, value: ArrayLike) -> float | np.ndarray:
    """``value`` as a float (scalar) or float array, checked finite."""
    array = np.asarray(value, dtype=float)
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (no NaN or infinity) and non-empty, got {value!r}")
    return float(array) if array.ndim == 0 else array


def _positive(name: str, value: ArrayLike) -> float | np.ndarray:
    """``value`` as a float (scalar) or float array, checked finite and > 0."""
    if np.ndim(value) == 0:
        return positive_float(name, value.item() if isinstance(value, np.ndarray) else value)
    return positive_array(name, value)


def _at_least_one(name: str, value: ArrayLike) -> float | np.ndarray:
    """``value`` as a float (scalar) or float array, checked finite and >= 1."""
    array = _real(name, value)
    if np.any(np.asarray(array) < 1):
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return array


# --- the data wall --------------------------------------------------------------------


def compute_optimal_tokens(
    compute_flops: ArrayLike, *, tokens_per_parameter: float = CHINCHILLA_TOKENS_PER_PARAMETER
) -> float | np.ndarray:
    """Tokens a compute-optimal model trains on with ``compute_flops``: ``D = sqrt(r C / 6)``.

    With ``D = r N`` (``r`` tokens per parameter, 20 for Chinchilla) and ``C = 6 N D``
    (:func:`scalinglab.fermi.training_flops`), ``C = 6 D^2 / r``. Floats give a float,
    arrays an array. Example: Chinchilla's 5.88e23 FLOPs give 1.4e12 tokens.
    """
    compute_flops = _positive("compute_flops", compute_flops)
    tokens_per_parameter = positive_float("tokens_per_parameter", tokens_per_parameter)
    return (tokens_per_parameter * compute_flops / 6.0) ** 0.5


def _grown(year: ArrayLike, base_year: float, base_value: float, growth_per_year: float) -> float | np.ndarray:
    """``base_value * growth_per_year ** (year - base_year)``, arguments already checked."""
    return base_value * growth_per_year ** (_real("year", year) - base_year)


def compute_in_year(
    year: ArrayLike, *, base_year: float, base_compute_flops: float, growth_per_year: float
) -> float | np.ndarray:
    """Training compute in FLOPs in ``year``: ``C(y) = C0 g^(y - y0)``.

    ``growth_per_year`` is a factor per year (4 is 4x a year, about 0.6 OOM); a factor
    below 1 (shrinking compute) is allowed, zero or negative is not. ``year`` may be an
    array (fractional years allowed).
    """
    base_year = _real("base_year", base_year)
    base_compute_flops = positive_float("base_compute_flops", base_compute_flops)
    growth_per_year = positive_float("growth_per_year", growth_per_year)
    return _grown(year, base_year, base_compute_flops, growth_per_year)


def stock_in_year(
    year: ArrayLike, *, base_year: float, base_tokens: float, growth_per_year: float
) -> float | np.ndarray:
    """A stock of text in tokens in ``year``: ``S(y) = S0 g^(y - y0)`` (``g`` a factor per year)."""
    base_year = _real("base_year", base_year)
    base_tokens = positive_float("base_tokens", base_tokens)
    growth_per_year = positive_float("growth_per_year", growth_per_year)
    return _grown(year, base_year, base_tokens, growth_per_year)


def crossing_year(
    *,
    base_year: float,
    base_compute_flops: float,
    compute_growth_per_year: float,
    base_stock_tokens: float,
    stock_growth_per_year: float,
    tokens_per_parameter: float = CHINCHILLA_TOKENS_PER_PARAMETER,
) -> float | None:
    """The (fractional) year from which a compute-optimal model wants more tokens than the stock holds.

    The need ``D(y) = sqrt(r C(y) / 6)`` grows by ``sqrt(g_C)`` a year, the stock by
    ``g_S``. In natural logs, with ``gap = ln S0 - ln D(y0)`` and
    ``closing = ln(g_C) / 2 - ln(g_S)`` per year, they meet at ``y0 + gap / closing``.

    Returns:
        ``base_year`` itself if the need already reaches the stock (``gap <= 0``);
        ``None`` if it starts below and never catches up (``closing <= 0``: the need
        grows no faster than the stock); else the crossing year, a float.
    """
    base_year = _real("base_year", base_year)
    need = compute_optimal_tokens(base_compute_flops, tokens_per_parameter=tokens_per_parameter)
    compute_growth_per_year = positive_float("compute_growth_per_year", compute_growth_per_year)
    base_stock_tokens = positive_float("base_stock_tokens", base_stock_tokens)
    stock_growth_per_year = positive_float("stock_growth_per_year", stock_growth_per_year)
    gap = math.log(base_stock_tokens) - math.log(need)
    if gap <= 0:
        return base_year
    closing = 0.5 * math.log(compute_growth_per_year) - math.log(stock_growth_per_year)
    if closing <= 0:
        return None
    return base_year + gap / closing


@dataclass(frozen=True)
class TextStock:
    """A stock of text: its size in tokens (about 2024), its growth factor per year, and the source."""

    name: str
    tokens: float
    growth_per_year: float
    source: str


#: Year the figures of :data:`TEXT_STOCKS` describe: pass it as ``base_year``.
TEXT_STOCKS_YEAR = 2024

#: Growth of the stock of language data, 7% a year (Villalobos et al., 2022, from the
#: growth of internet users); applied to every stock below as an assumption.
TEXT_STOCK_GROWTH_PER_YEAR = 1.07

#: Share of Common Crawl's text kept after quality filtering and deduplication, 0.1%:
#: the lecture's figure, an order-of-magnitude assumption.
COMMON_CRAWL_KEPT_FRACTION = 1e-3

_GROWTH = "growth 7%/year from Villalobos et al. (2022), assumed for this stock"
_COMMON_CRAWL_TOKENS = fermi.tokens_from_words(fermi.common_crawl_words())

#: A few stocks of text in tokens, as visible assumptions: change them, or add your own.
TEXT_STOCKS: tuple[TextStock, ...] = (
    TextStock(
        "Common Crawl, all archives",
        _COMMON_CRAWL_TOKENS,
        TEXT_STOCK_GROWTH_PER_YEAR,
        "fermi.common_crawl_words(): 2.5e11 pages x 1,000 words (an order-of-magnitude "
        "assumption) x 4/3 tokens per word, duplicates included; " + _GROWTH,
    ),
    TextStock(
        "Common Crawl, quality-filtered",
        _COMMON_CRAWL_TOKENS * COMMON_CRAWL_KEPT_FRACTION,
        TEXT_STOCK_GROWTH_PER_YEAR,
        "the row above times 0.1% kept after filtering (the lecture's figure, an "
        "order-of-magnitude assumption); " + _GROWTH,
    ),
    TextStock(
        "Public human text, effective stock",
        3e14,
        TEXT_STOCK_GROWTH_PER_YEAR,
        "Villalobos et al. (2024): about 3e14 tokens of public human-generated text of "
        "training quality (90% interval 1e14 to 1e15); " + _GROWTH,
    ),
    TextStock(
        "Books, Library of Congress",
        fermi.tokens_from_words(fermi.library_of_congress_words()),
        TEXT_STOCK_GROWTH_PER_YEAR,
        "fermi.library_of_congress_words(): 2.4e7 books x 1e5 words (words per book an "
        "assumption) x 4/3 tokens per word; " + _GROWTH,
    ),
    TextStock(
        "Public code, The Stack v2",
        9e11,
        TEXT_STOCK_GROWTH_PER_YEAR,
        "Lozhkov et al. (2024): about 900 billion unique tokens in The Stack v2's training "
        "set (permissively licensed code from the Software Heritage archive); " + _GROWTH,
    ),
)


# --- effective compute in orders of magnitude -----------------------------------------


def ooms_per_year(doubling_time_months: float) -> float:
    """Orders of magnitude per year of a quantity that doubles every ``doubling_time_months``: ``log10(2) * 12 / T``."""
    return math.log10(2) * 12 / positive_float("doubling_time_months", doubling_time_months)


#: Physical training compute of frontier models, about 0.6 OOM a year: a doubling every
#: 6 months in the deep-learning era (Sevilla et al., 2022), i.e. 4x a year; Epoch AI's
#: update (Sevilla and Roldán, 2024) finds 4-5x a year (0.60 to 0.70 OOM).
PHYSICAL_OOMS_PER_YEAR = ooms_per_year(6)

#: Algorithmic efficiency of language models, about 0.45 OOM a year: the compute needed
#: for a fixed performance halves every ~8 months (Ho et al., 2024; 95% CI 5 to 14
#: months, i.e. 0.26 to 0.72 OOM a year).
ALGORITHMIC_OOMS_PER_YEAR = ooms_per_year(8)

#: "Unhobbling" (tools, chain of thought, agents, post-training) has no agreed
#: measurement: Aschenbrenner (2024) argues for it qualitatively, so the default is 0.
UNHOBBLING_OOMS_PER_YEAR = 0.0


@dataclass(frozen=True)
class EffectiveComputeOOMs:
    """Cumulative orders of magnitude of effective compute, per component and in total.

    Each field is a float, or an array when ``years`` was an array; ``10 ** total`` is
    the growth factor of effective compute (:attr:`factor`).
    """

    physical: float | np.ndarray
    algorithmic: float | np.ndarray
    unhobbling: float | np.ndarray
    total: float | np.ndarray

    @property
    def factor(self) -> float | np.ndarray:
        """Growth factor of effective compute, ``10 ** total``."""
        return 10.0**self.total


def effective_compute_ooms(
    years: ArrayLike,
    *,
    physical_ooms_per_year: float = PHYSICAL_OOMS_PER_YEAR,
    algorithmic_ooms_per_year: float = ALGORITHMIC_OOMS_PER_YEAR,
    unhobbling_ooms_per_year: float = UNHOBBLING_OOMS_PER_YEAR,
) -> EffectiveComputeOOMs:
    """OOMs of effective compute gained over ``years`` years: each rate times ``years``, and their sum.

    Linear in years: OOMs add where factors multiply. The defaults are
    :data:`PHYSICAL_OOMS_PER_YEAR` (about 0.60), :data:`ALGORITHMIC_OOMS_PER_YEAR`
    (about 0.45) and :data:`UNHOBBLING_OOMS_PER_YEAR` (0), so four years give about
    4.2 OOMs, a factor of about 16,000. Negative rates or years raise ``ValueError``.
    """
    years = _real("years", years)
    if np.any(np.asarray(years) < 0):
        raise ValueError(f"years must be >= 0, got {years!r}")
    physical = non_negative_float("physical_ooms_per_year", physical_ooms_per_year) * years
    algorithmic = non_negative_float("algorithmic_ooms_per_year", algorithmic_ooms_per_year) * years
    unhobbling = non_negative_float("unhobbling_ooms_per_year", unhobbling_ooms_per_year) * years
    return EffectiveComputeOOMs(physical, algorithmic, unhobbling, physical + algorithmic + unhobbling)


# --- inference cost -------------------------------------------------------------------

#: Bits per weight that the inference calculators accept: fp16/bf16, int8 and int4.
SUPPORTED_BITS = (16, 8, 4)


def _weight_bytes(n_params: float, bits: int) -> float:
    """:func:`scalinglab.fermi.weights_memory_bytes`, ``N * bits / 8`` bytes, for ``bits`` in
    :data:`SUPPORTED_BITS` only (else ``ValueError`` naming ``bits``)."""
    one_of("bits", bits, SUPPORTED_BITS)  # type: ignore[arg-type]
    return fermi.weights_memory_bytes(n_params, bits)


def memory_bound_tokens_per_second(
    n_params: float, bits: int, memory_bandwidth_bytes_per_second: float
) -> float:
    """Tokens per second if reading the weights is the bottleneck: ``bandwidth / (N bits / 8)``.

    Generating one token at batch size 1 reads every weight once from memory; the KV
    cache and activations are left out, so this is an upper bound.
    """
    bandwidth = positive_float("memory_bandwidth_bytes_per_second", memory_bandwidth_bytes_per_second)
    return bandwidth / _weight_bytes(n_params, bits)


def compute_bound_tokens_per_second(n_params: float, flops_per_second: float) -> float:
    """Tokens per second if arithmetic is the bottleneck: ``F / 2N``.

    ``2N`` FLOPs per generated token is :func:`scalinglab.fermi.forward_flops_per_token`.
    """
    return positive_float("flops_per_second", flops_per_second) / fermi.forward_flops_per_token(n_params)


def generation_tokens_per_second(
    n_params: float, bits: int, *, memory_bandwidth_bytes_per_second: float, flops_per_second: float
) -> float:
    """A roofline estimate of generation speed at batch size 1: the smaller of the two bounds.

    ``min(bandwidth / (N bits / 8), F / 2N)``. On CPUs and GPUs alike, single-stream
    generation is almost always memory-bound: the FLOP/s bound is far higher.
    """
    return min(
        memory_bound_tokens_per_second(n_params, bits, memory_bandwidth_bytes_per_second),
        compute_bound_tokens_per_second(n_params, flops_per_second),
    )


def scale_measured_tokens_per_second(
    measured_tokens_per_second: float, measured_n_params: float, target_n_params: float
) -> float:
    """Scale a measured generation speed to another model size: ``speed * N_measured / N_target``.

    An approximation: both bounds of :func:`generation_tokens_per_second` fall as ``1/N``,
    so on the same device, at the same bits per weight and while the same bound holds,
    speed is inversely proportional to size. Fixed overheads, the KV cache and caches
    that hold a small model but not a large one break it.
    """
    measured = positive_float("measured_tokens_per_second", measured_tokens_per_second)
    measured_n_params = positive_float("measured_n_params", measured_n_params)
    return measured * measured_n_params / positive_float("target_n_params", target_n_params)


def fits_in_memory(n_params: float, bits: int, device: fermi.Device) -> bool:
    """True if the weights alone, ``N bits / 8`` bytes, fit in ``device.memory_bytes``.

    ``device`` is a :class:`scalinglab.fermi.Device` with its memory recorded, such as
    :data:`scalinglab.fermi.RASPBERRY_PI_5` or :data:`scalinglab.fermi.H100_SXM`. The
    operating system, the KV cache and activations need memory too, so a model that only
    just fits does not run.

    Raises:
        ValueError: ``bits`` not in :data:`SUPPORTED_BITS`, ``n_params`` not positive, or
            ``device.memory_bytes`` not recorded (``None``).
    """
    if device.memory_bytes is None:
        raise ValueError(f"device.memory_bytes must be recorded, got None for {device.name!r}")
    return _weight_bytes(n_params, bits) <= device.memory_bytes


# --- repeated data (Muennighoff et al., 2023) -----------------------------------------

#: R*_D, the number of repetitions after which repeated data is worth 1 - 1/e of its
#: limit, as fitted by Muennighoff et al. (2023).
R_STAR = 15.4


def unique_tokens_for_epochs(tokens: float, epochs: int) -> float:
    """Unique tokens ``U = D / k`` such that ``k`` epochs over them use the budget ``D = tokens``.

    Raises:
        ValueError: ``epochs`` not a positive integer, or not dividing ``tokens`` exactly;
            ``tokens`` not a positive whole number.
    """
    tokens = positive_float("tokens", tokens)
    if not tokens.is_integer():
        raise ValueError(f"tokens must be a whole number, got {tokens!r}")
    epochs = positive_int("epochs", epochs)
    if tokens % epochs != 0:
        raise ValueError(f"epochs must divide tokens exactly, got tokens={tokens!r}, epochs={epochs!r}")
    return tokens / epochs


def effective_data(unique_tokens: ArrayLike, epochs: ArrayLike, *, r_star: float = R_STAR) -> float | np.ndarray:
    """Fresh-token equivalent of ``epochs`` passes over ``unique_tokens``: ``D' = U + U R* (1 - exp(-R / R*))``.

    ``R = epochs - 1`` is the number of repetitions (the data term of Muennighoff et al.,
    2023). One epoch gives ``D' = U``; a few epochs are worth almost as much as fresh
    data; many epochs approach ``U (1 + R*)``, 16.4 U at the fitted ``R* = 15.4``.
    ``unique_tokens`` and ``epochs`` (>= 1, not necessarily whole) broadcast as arrays.
    """
    unique_tokens = _positive("unique_tokens", unique_tokens)
    repetitions = _at_least_one("epochs", epochs) - 1.0
    r_star = positive_float("r_star", r_star)
    return unique_tokens * (1.0 + r_star * -np.expm1(-repetitions / r_star))
