"""Tests for scalinglab.limits: calculators against hand-computed values, bad inputs, and the fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scalinglab import fermi, limits


# --- the data wall --------------------------------------------------------------------


def test_chinchilla_tokens_per_parameter_is_20():
    # 1.4e12 tokens / 70e9 parameters = 20
    assert limits.CHINCHILLA_TOKENS_PER_PARAMETER == 20.0


def test_compute_optimal_tokens_chinchilla():
    # C = 6 * 70e9 * 1.4e12 = 5.88e23; D = sqrt(20 * 5.88e23 / 6) = sqrt(1.96e24) = 1.4e12
    compute = fermi.training_flops(70e9, 1.4e12)
    assert compute == pytest.approx(5.88e23)
    assert limits.compute_optimal_tokens(compute) == pytest.approx(1.4e12)


def test_compute_optimal_tokens_arrays_and_ratio():
    # r = 6: D = sqrt(C) -> 1e10, 1e11 for C = 1e20, 1e22
    tokens = limits.compute_optimal_tokens(np.array([1e20, 1e22]), tokens_per_parameter=6.0)
    assert isinstance(tokens, np.ndarray)
    np.testing.assert_allclose(tokens, [1e10, 1e11])


def test_compute_and_stock_in_year():
    # 1e24 * 4^2 = 1.6e25; half a year at 4x/year is 2x
    growth = {"base_year": 2024, "base_compute_flops": 1e24, "growth_per_year": 4.0}
    assert limits.compute_in_year(2026, **growth) == pytest.approx(1.6e25)
    assert limits.compute_in_year(2024.5, **growth) == pytest.approx(2e24)
    # a shrinking factor is allowed: 1e24 * 0.5^1 = 5e23
    shrinking = limits.compute_in_year(2025, base_year=2024, base_compute_flops=1e24, growth_per_year=0.5)
    assert shrinking == pytest.approx(5e23)
    # 1e14 * 1.07^10 = 1.967e14
    stock = limits.stock_in_year(np.array([2024, 2034]), base_year=2024, base_tokens=1e14, growth_per_year=1.07)
    np.testing.assert_allclose(stock, [1e14, 1e14 * 1.07**10])
    assert stock[1] == pytest.approx(1.967e14, rel=1e-3)


def test_crossing_year_hand_computed():
    # need in 2024: sqrt(20 * 3e23 / 6) = sqrt(1e24) = 1e12 tokens, two OOMs below 1e14.
    # Compute x100 a year -> need x10 (1 OOM/yr); stock x10^0.5 (0.5 OOM/yr).
    # The gap closes at 0.5 OOM a year: 2 OOMs / 0.5 = 4 years -> 2028.
    year = limits.crossing_year(
        base_year=2024, base_compute_flops=3e23, compute_growth_per_year=100.0,
        base_stock_tokens=1e14, stock_growth_per_year=10**0.5,
    )
    assert year == pytest.approx(2028.0)
    # A flat stock: 2 OOMs at 1 OOM/yr -> 2026.
    flat = limits.crossing_year(
        base_year=2024, base_compute_flops=3e23, compute_growth_per_year=100.0,
        base_stock_tokens=1e14, stock_growth_per_year=1.0,
    )
    assert flat == pytest.approx(2026.0)


def test_crossing_year_matches_brute_force_search():
    kwargs = {
        "base_year": 2024.0, "base_compute_flops": 2e25, "compute_growth_per_year": 4.5,
        "base_stock_tokens": 3e14, "stock_growth_per_year": 1.07,
    }
    year = limits.crossing_year(**kwargs)
    grid = np.arange(2024.0, 2060.0, 1e-4)
    need = limits.compute_optimal_tokens(
        limits.compute_in_year(grid, base_year=2024.0, base_compute_flops=2e25, growth_per_year=4.5)
    )
    stock = limits.stock_in_year(grid, base_year=2024.0, base_tokens=3e14, growth_per_year=1.07)
    first = grid[np.argmax(need >= stock)]
    assert need[-1] >= stock[-1]  # the grid does reach the crossing
    assert year == pytest.approx(first, abs=2e-4)
    # and the need equals the stock there
    at = limits.compute_optimal_tokens(
        limits.compute_in_year(year, base_year=2024.0, base_compute_flops=2e25, growth_per_year=4.5)
    )
    assert at == pytest.approx(limits.stock_in_year(year, base_year=2024.0, base_tokens=3e14, growth_per_year=1.07))


def test_crossing_year_already_crossed_and_never():
    # need 1e12 >= stock 1e11: already past, the base year itself
    assert limits.crossing_year(
        base_year=2024, base_compute_flops=3e23, compute_growth_per_year=4.0,
        base_stock_tokens=1e11, stock_growth_per_year=1.07,
    ) == 2024.0
    # need below the stock and growing as sqrt(1.1) = 1.049 < 1.07 a year: never
    assert limits.crossing_year(
        base_year=2024, base_compute_flops=3e23, compute_growth_per_year=1.1,
        base_stock_tokens=1e14, stock_growth_per_year=1.07,
    ) is None
    # equal growth (need x2 a year from compute x4, stock x2): never
    assert limits.crossing_year(
        base_year=2024, base_compute_flops=3e23, compute_growth_per_year=4.0,
        base_stock_tokens=1e14, stock_growth_per_year=2.0,
    ) is None


@pytest.mark.parametrize("name", ["compute_growth_per_year", "stock_growth_per_year"])
@pytest.mark.parametrize("bad", [-1.07, 0.0])
def test_crossing_year_rejects_non_positive_growth(name, bad):
    kwargs = {
        "base_year": 2024, "base_compute_flops": 3e23, "compute_growth_per_year": 4.0,
        "base_stock_tokens": 1e14, "stock_growth_per_year": 1.07,
    }
    kwargs[name] = bad
    with pytest.raises(ValueError, match=f"^{name}"):
        limits.crossing_year(**kwargs)


def test_compute_and_stock_reject_non_positive_growth():
    with pytest.raises(ValueError, match="^growth_per_year"):
        limits.compute_in_year(2025, base_year=2024, base_compute_flops=1e24, growth_per_year=-4.0)
    with pytest.raises(ValueError, match="^growth_per_year"):
        limits.stock_in_year(2025, base_year=2024, base_tokens=1e14, growth_per_year=0.0)
    with pytest.raises(ValueError, match="^compute_flops"):
        limits.compute_optimal_tokens(np.array([1e20, -1.0]))


def test_text_stocks():
    stocks = {s.name: s for s in limits.TEXT_STOCKS}
    # 2.5e11 pages * 1e3 words * 4/3 tokens per word = 3.33e14 tokens
    cc = stocks["Common Crawl, all archives"]
    assert cc.tokens == pytest.approx(2.5e14 * 4 / 3)
    # 0.1% of it kept: 3.33e11
    assert stocks["Common Crawl, quality-filtered"].tokens == pytest.approx(2.5e11 * 4 / 3)
    # 2.4e7 books * 1e5 words * 4/3 = 3.2e12
    assert stocks["Books, Library of Congress"].tokens == pytest.approx(3.2e12)
    assert all(s.source and s.tokens > 0 and s.growth_per_year > 0 for s in limits.TEXT_STOCKS)
    with pytest.raises(AttributeError):
        cc.tokens = 1.0  # type: ignore[misc]


# --- effective compute ----------------------------------------------------------------


def test_default_rates():
    # doubling every 6 months: 2 doublings a year = log10(4) = 0.602 OOM
    assert limits.PHYSICAL_OOMS_PER_YEAR == pytest.approx(math.log10(4))
    # halving every 8 months: 1.5 halvings a year = 1.5 * 0.30103 = 0.4515 OOM
    assert limits.ALGORITHMIC_OOMS_PER_YEAR == pytest.approx(0.4515, abs=1e-4)
    assert limits.UNHOBBLING_OOMS_PER_YEAR == 0.0


def test_effective_compute_ooms_hand_computed():
    # 4 years: 0.5 * 4 = 2 physical, 0.25 * 4 = 1 algorithmic, 0.1 * 4 = 0.4 unhobbling; 3.4 in all
    ooms = limits.effective_compute_ooms(
        4, physical_ooms_per_year=0.5, algorithmic_ooms_per_year=0.25, unhobbling_ooms_per_year=0.1
    )
    assert (ooms.physical, ooms.algorithmic) == pytest.approx((2.0, 1.0))
    assert ooms.unhobbling == pytest.approx(0.4)
    assert ooms.total == pytest.approx(3.4)
    assert ooms.factor == pytest.approx(10**3.4)


def test_effective_compute_ooms_defaults_and_arrays():
    # 4 * (0.602 + 0.4515) = 4.214 OOMs
    assert limits.effective_compute_ooms(4).total == pytest.approx(4.2144, abs=1e-3)
    totals = limits.effective_compute_ooms(np.array([0.0, 1.0, 2.0]), physical_ooms_per_year=1.0,
                                           algorithmic_ooms_per_year=0.0).total
    np.testing.assert_allclose(totals, [0.0, 1.0, 2.0])


@pytest.mark.parametrize("name", ["physical_ooms_per_year", "algorithmic_ooms_per_year", "unhobbling_ooms_per_year"])
def test_effective_compute_ooms_rejects_negative_rates(name):
    with pytest.raises(ValueError, match=f"^{name}"):
        limits.effective_compute_ooms(4, **{name: -0.1})


def test_effective_compute_ooms_rejects_negative_years():
    with pytest.raises(ValueError, match="^years"):
        limits.effective_compute_ooms(-1)


# --- inference ------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [3, 32, 2])
def test_inference_calculators_reject_unsupported_bits(bits):
    message = f"^bits must be one of 16, 8, 4, got {bits}$"
    with pytest.raises(ValueError, match=message):
        limits.memory_bound_tokens_per_second(1e9, bits, 1e10)
    with pytest.raises(ValueError, match=message):
        limits.fits_in_memory(1e9, bits, fermi.RASPBERRY_PI_5)
    with pytest.raises(ValueError, match=message):
        limits.generation_tokens_per_second(
            1e9, bits, memory_bandwidth_bytes_per_second=1e10, flops_per_second=1e12
        )


def test_memory_and_compute_bounds():
    # 17e9 B/s / 6.5e9 B = 2.615 tokens/s
    assert limits.memory_bound_tokens_per_second(13e9, 4, 17e9) == pytest.approx(17 / 6.5)
    # 1.5e11 FLOP/s / (2 * 7.5e9) = 10 tokens/s
    assert limits.compute_bound_tokens_per_second(7.5e9, 1.5e11) == pytest.approx(10.0)
    # 7.5e9 at 16 bits = 1.5e10 B; 3e12 B/s / 1.5e10 = 200 (memory) vs 1e15 / 1.5e10 = 66,667 (compute)
    assert limits.generation_tokens_per_second(
        7.5e9, 16, memory_bandwidth_bytes_per_second=3e12, flops_per_second=1e15
    ) == pytest.approx(200.0)
    # a slow processor: 1e12 B/s / 3.75e9 B (4 bits) = 266.7 vs 3e11 / 1.5e10 = 20 -> compute-bound
    assert limits.generation_tokens_per_second(
        7.5e9, 4, memory_bandwidth_bytes_per_second=1e12, flops_per_second=3e11
    ) == pytest.approx(20.0)


def test_raspberry_pi_5_roofline():
    pi = fermi.RASPBERRY_PI_5
    # 13e9 at 4 bits: 1.7068e10 / 6.5e9 = 2.626 tokens/s (memory-bound; compute allows 5.9)
    speed = limits.generation_tokens_per_second(
        13e9, 4, memory_bandwidth_bytes_per_second=pi.memory_bandwidth_bytes_per_second,
        flops_per_second=pi.peak_flops_per_second,
    )
    assert speed == pytest.approx(2.626, abs=1e-3)


def test_fits_in_memory():
    pi = fermi.RASPBERRY_PI_5
    # 7e9 at 4 bits = 3.5e9 B < 8.59e9 B; 13e9 at 4 bits = 6.5e9 B fits; at 16 bits 2.6e10 B does not
    assert limits.fits_in_memory(7e9, 4, pi)
    assert limits.fits_in_memory(13e9, 4, pi)
    assert not limits.fits_in_memory(13e9, 16, pi)
    # 70e9 at 16 bits = 1.4e11 B > 80 GiB = 8.59e10 B; at 8 bits, 7e10 B fits
    assert not limits.fits_in_memory(70e9, 16, fermi.H100_SXM)
    assert limits.fits_in_memory(70e9, 8, fermi.H100_SXM)


def test_fits_in_memory_needs_a_device_with_its_memory_recorded():
    with pytest.raises(ValueError, match="^device.memory_bytes must be recorded"):
        limits.fits_in_memory(1e9, 16, fermi.ACCELERATORS["A100 bf16"])


def test_scale_measured_tokens_per_second():
    # 10 tokens/s at 1e9 params -> 10 * 1e9 / 7e9 = 1.43 tokens/s at 7e9
    assert limits.scale_measured_tokens_per_second(10.0, 1e9, 7e9) == pytest.approx(10 / 7)
    with pytest.raises(ValueError, match="^target_n_params"):
        limits.scale_measured_tokens_per_second(10.0, 1e9, 0)


# --- repeated data --------------------------------------------------------------------


def test_unique_tokens_for_epochs():
    # 1e9 tokens in 4 epochs: 2.5e8 unique
    assert limits.unique_tokens_for_epochs(1e9, 4) == 2.5e8
    assert limits.unique_tokens_for_epochs(1e9, 1) == 1e9


@pytest.mark.parametrize("epochs", [3, 0, -2])
def test_unique_tokens_for_epochs_rejects_bad_epochs(epochs):
    # 1e9 / 3 is not whole; 0 and -2 are not positive
    with pytest.raises(ValueError, match="^epochs"):
        limits.unique_tokens_for_epochs(1e9, epochs)


def test_effective_data_hand_computed():
    # one epoch: D' = U
    assert limits.effective_data(1e9, 1) == pytest.approx(1e9)
    # two epochs, R = 1: D' = U (1 + 15.4 (1 - e^(-1/15.4))) = U (1 + 15.4 * 0.062872) = 1.96823 U
    assert limits.effective_data(1e9, 2) == pytest.approx(1e9 * (1 + 15.4 * (1 - math.exp(-1 / 15.4))))
    assert limits.effective_data(1e9, 2) == pytest.approx(1.96823e9, rel=1e-5)
    # many epochs: U (1 + R*) = 16.4 U
    assert limits.effective_data(1e9, 1e6) == pytest.approx(16.4e9)
    # r_star = 1, R = 1: U (1 + (1 - 1/e)) = 1.6321 U
    assert limits.effective_data(1.0, 2, r_star=1.0) == pytest.approx(2 - math.exp(-1))


def test_effective_data_arrays():
    epochs = np.array([1.0, 2.0, 4.0])
    got = limits.effective_data(1e9 / epochs, epochs)
    want = 1e9 / epochs * (1 + 15.4 * (1 - np.exp(-(epochs - 1) / 15.4)))
    np.testing.assert_allclose(got, want)
    # at a fixed budget, more epochs over fewer unique tokens are worth less
    assert np.all(np.diff(got) < 0)
    with pytest.raises(ValueError, match="^epochs"):
        limits.effective_data(1e9, np.array([1.0, 0.5]))
    with pytest.raises(ValueError, match="^epochs"):
        limits.effective_data(1e9, 0)

