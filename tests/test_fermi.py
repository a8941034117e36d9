"""Tests for scalinglab.fermi: formulas against hand-computed values and published numbers."""

from __future__ import annotations

import math

import pytest

from scalinglab import fermi


# --- parameters -----------------------------------------------------------------------


def test_transformer_params_non_embedding():
    # 12 * 2 * 128^2 = 24 * 16384 = 393,216
    assert fermi.transformer_params(2, 128) == 393_216


def test_transformer_params_with_embeddings():
    # GPT-3 Small: 12 * 12 * 768^2 = 84,934,656
    #   + 50257 * 768 = 38,597,376 (tokens) + 2048 * 768 = 1,572,864 (positions)
    #   = 125,104,896
    assert fermi.transformer_params(12, 768, vocab_size=50257, n_ctx=2048) == 125_104_896


def test_transformer_params_returns_int():
    assert isinstance(fermi.transformer_params(1, 1), int)


def test_gpt3_family_is_the_eight_models_of_table_2_1():
    stated = [m.stated_params for m in fermi.GPT3_FAMILY]
    assert stated == [125e6, 350e6, 760e6, 1.3e9, 2.7e9, 6.7e9, 13e9, 175e9]
    assert all(m.n_ctx == 2048 and m.vocab_size == 50257 for m in fermi.GPT3_FAMILY)
    assert all(m.n_tokens == 300e9 for m in fermi.GPT3_FAMILY)
    assert all("Brown" in m.source for m in fermi.GPT3_FAMILY)
    assert fermi.GPT3.name == "GPT-3 175B"


def test_gpt3_with_embeddings_within_2_percent_of_stated():
    # Measured: the ratios lie between 0.982 (2.7B) and 1.016 (Medium).
    for model in fermi.GPT3_FAMILY:
        ratio = model.formula_params(embeddings=True) / model.stated_params
        assert ratio == pytest.approx(1.0, abs=0.02), model.name


def test_gpt3_non_embedding_undercounts_small_models_most():
    ratios = [m.formula_params() / m.stated_params for m in fermi.GPT3_FAMILY]
    # Small: 84.9M / 125M = 0.68, a third of the model is embeddings.
    assert ratios[0] == pytest.approx(0.68, abs=0.01)
    # The larger five (XL and up) lie within 8% of the stated count; 175B within 1%.
    assert all(0.92 < r < 1.0 for r in ratios[3:])
    # 12 * 96 * 12288^2 = 1.7395e11, 0.994 of 175e9.
    assert ratios[-1] == pytest.approx(0.994, abs=0.001)
    # The non-embedding share grows with size (strictly, model by model).
    assert ratios == sorted(ratios)


def test_chinchilla_formula_within_10_percent():
    # 12 * 80 * 8192^2 = 6.44e10, + 32000 * 8192 = 2.6e8: 0.924 of the stated 70e9.
    ratio = fermi.CHINCHILLA.formula_params(embeddings=True) / fermi.CHINCHILLA.stated_params
    assert 0.9 < ratio < 1.0
    assert fermi.CHINCHILLA.n_tokens == 1.4e12


def test_reference_models_are_frozen():
    with pytest.raises(AttributeError):
        fermi.GPT3.n_layer = 1  # type: ignore[misc]


# --- FLOPs ----------------------------------------------------------------------------


def test_forward_flops_per_token():
    # 2 * 1e9 = 2e9
    assert fermi.forward_flops_per_token(1e9) == 2e9


def test_training_flops_small():
    # 6 * 1e6 * 2e7 = 1.2e14
    assert fermi.training_flops(1e6, 2e7) == pytest.approx(1.2e14)


def test_training_flops_gpt3_matches_paper():
    # 6 * 175e9 * 300e9 = 3.15e23, the paper states 3.14e23 (Table D.1).
    flops = fermi.training_flops(fermi.GPT3.stated_params, fermi.GPT3.n_tokens)
    assert flops == pytest.approx(3.15e23)
    assert flops == pytest.approx(fermi.GPT3_STATED_TRAINING_FLOPS, rel=0.01)
    # Chinchilla: 6 * 70e9 * 1.4e12 = 5.88e23 against the stated 5.76e23
    chinchilla = fermi.training_flops(fermi.CHINCHILLA.stated_params, fermi.CHINCHILLA.n_tokens)
    assert chinchilla == pytest.approx(fermi.CHINCHILLA_STATED_TRAINING_FLOPS, rel=0.03)


def test_petaflop_s_days():
    # 1 PF/s-day = 1e15 * 86400 = 8.64e19 FLOPs
    assert fermi.petaflop_s_days(8.64e19) == pytest.approx(1.0)
    # GPT-3: 3.15e23 / 8.64e19 = 3645.8, the paper states 3.64e3.
    assert fermi.petaflop_s_days(3.15e23) == pytest.approx(fermi.GPT3_STATED_PETAFLOP_S_DAYS, rel=0.01)


def test_attention_ratio_small_model():
    # 1000 / (12 * 128) = 1000 / 1536 = 0.651
    assert fermi.attention_flops_ratio(1000, 128) == pytest.approx(0.651, abs=0.001)


def test_attention_ratio_gpt3():
    # 2048 / (12 * 12288) = 2048 / 147456 = 0.0139
    assert fermi.attention_flops_ratio(2048, 12288) == pytest.approx(0.0139, abs=0.0001)


def test_attention_share():
    # r = 12 * 64 / (12 * 64) = 1, share = 1 / 2
    assert fermi.attention_flops_share(768, 64) == pytest.approx(0.5)


def test_tokens_per_parameter():
    # GPT-3: 300e9 / 175e9 = 1.71; Chinchilla: 1.4e12 / 70e9 = 20
    assert fermi.tokens_per_parameter(300e9, 175e9) == pytest.approx(1.714, abs=0.001)
    assert fermi.tokens_per_parameter(1.4e12, 70e9) == pytest.approx(20.0)


def test_trillion_parameter_model_exceeds_avogadro():
    # 6 * 1e12 * 300e9 = 1.8e24 > 6.022e23
    assert fermi.training_flops(1e12, 300e9) == pytest.approx(1.8e24)
    assert fermi.training_flops(1e12, 300e9) > fermi.AVOGADRO
    assert fermi.AVOGADRO == 6.02214076e23


# --- time -----------------------------------------------------------------------------


def test_training_seconds_and_days():
    # 8.64e19 / (1e15 * 1.0) = 86400 s = 1 day
    assert fermi.training_seconds(8.64e19, peak_flops_per_second=1e15, utilization=1.0) == pytest.approx(86_400)
    assert fermi.training_days(8.64e19, peak_flops_per_second=1e15, utilization=1.0) == pytest.approx(1.0)
    # At half utilization it takes twice as long.
    assert fermi.training_days(8.64e19, peak_flops_per_second=1e15, utilization=0.5) == pytest.approx(2.0)


def test_gpt3_a100_days():
    # 3.15e23 / (312e12 * 0.4) = 3.15e23 / 1.248e14 = 2.524e9 s = 29,212 days
    peak = fermi.ACCELERATORS["A100 bf16"].peak_flops_per_second
    days = fermi.training_days(3.15e23, peak_flops_per_second=peak, utilization=0.4)
    assert days == pytest.approx(29_212, rel=1e-3)


def test_accelerator_table():
    assert fermi.ACCELERATORS["A100 bf16"].peak_flops_per_second == 312e12
    assert fermi.ACCELERATORS["A100 tf32"].peak_flops_per_second == 156e12
    assert fermi.ACCELERATORS["A100 fp32"].peak_flops_per_second == 19.5e12
    assert fermi.ACCELERATORS["H100 SXM bf16"].peak_flops_per_second == 989e12
    assert all(a.source for a in fermi.ACCELERATORS.values())


def test_one_hardware_table_for_training_and_inference():
    # The H100 entry of the accelerators is the device of the inference calculators.
    assert fermi.ACCELERATORS["H100 SXM bf16"] is fermi.H100_SXM
    assert fermi.H100_SXM.memory_bytes == 80 * 2**30
    assert fermi.H100_SXM.memory_bandwidth_bytes_per_second == 3.35e12
    # The A100 entries record only a peak.
    assert fermi.ACCELERATORS["A100 bf16"].memory_bytes is None
    pi = fermi.RASPBERRY_PI_5
    # 4267e6 transfers/s * 4 bytes (32-bit bus) = 1.7068e10 B/s
    assert pi.memory_bandwidth_bytes_per_second == pytest.approx(1.7068e10)
    # 4 cores * 2.4e9 Hz * 16 FLOPs a cycle = 1.536e11
    assert pi.peak_flops_per_second == pytest.approx(1.536e11)
    assert pi.memory_bytes == 8 * 2**30
    assert pi.precision == "fp32"
    assert "estimate" in pi.source


@pytest.mark.parametrize(
    ("figures", "name"),
    [
        ({"peak_flops_per_second": 0.0}, "peak_flops_per_second"),
        ({"memory_bytes": -1.0}, "memory_bytes"),
        ({"memory_bandwidth_bytes_per_second": math.nan}, "memory_bandwidth_bytes_per_second"),
    ],
)
def test_device_rejects_bad_figures_by_name(figures, name):
    arguments = {"name": "chip", "precision": "fp32", "peak_flops_per_second": 1e12, "source": "test"} | figures
    with pytest.raises(ValueError, match=f"^{name} must be a finite number > 0"):
        fermi.Device(**arguments)


# --- memory ---------------------------------------------------------------------------


def test_weights_memory():
    # 175e9 * 16 / 8 = 3.5e11 bytes (350 GB); at 4 bits, 8.75e10
    assert fermi.weights_memory_bytes(175e9) == pytest.approx(3.5e11)
    assert fermi.weights_memory_bytes(175e9, bits=4) == pytest.approx(8.75e10)
    # 13e9 params at 4 bits = 13e9 / 2 = 6.5e9 bytes; at 16 bits, 26e9; 7e9 at 8 bits, 7e9
    assert fermi.weights_memory_bytes(13e9, 4) == 6.5e9
    assert fermi.weights_memory_bytes(13e9, 16) == 26e9
    assert fermi.weights_memory_bytes(7e9, 8) == 7e9


def test_training_memory():
    # 175e9 * 16 = 2.8e12 bytes (2.8 TB)
    assert fermi.training_memory_bytes(175e9) == pytest.approx(2.8e12)
    assert fermi.training_memory_bytes(1e9, bytes_per_param=12) == pytest.approx(1.2e10)


# --- stocks of text -------------------------------------------------------------------


def test_words_read_in_lifetime_default_is_about_2e9():
    # 250 * 60 * 5 * 365 * 70 = 1.916e9
    assert fermi.words_read_in_lifetime() == pytest.approx(1.91625e9)
    # 300 * 60 * 1 * 365 * 10 = 6.57e7
    assert fermi.words_read_in_lifetime(300, 1, 10) == pytest.approx(6.57e7)


def test_stocks_of_text_defaults():
    # 6.8e6 * 668 = 4.54e9; 2.4e7 * 1e5 = 2.4e12; 2.5e11 * 1e3 = 2.5e14
    assert fermi.english_wikipedia_words() == pytest.approx(4.5424e9)
    assert fermi.library_of_congress_words() == pytest.approx(2.4e12)
    assert fermi.common_crawl_words() == pytest.approx(2.5e14)


def test_stocks_are_ordered():
    gpt3_words = fermi.words_from_tokens(fermi.GPT3_TRAINING_TOKENS)
    stocks = [
        fermi.words_read_in_lifetime(),
        fermi.english_wikipedia_words(),
        gpt3_words,
        fermi.library_of_congress_words(),
        fermi.common_crawl_words(),
    ]
    assert stocks == sorted(stocks)


def test_tokens_and_words_round_trip():
    # 3e11 tokens * 3/4 = 2.25e11 words
    assert fermi.words_from_tokens(3e11) == pytest.approx(2.25e11)
    assert fermi.tokens_from_words(fermi.words_from_tokens(3e11)) == pytest.approx(3e11)
    assert fermi.tokens_from_words(100, tokens_per_word=1.5) == pytest.approx(150)


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, 2.5, math.nan, True, "12", None])
def test_transformer_params_rejects_bad_n_layer(bad):
    with pytest.raises(ValueError, match="n_layer"):
        fermi.transformer_params(bad, 128)


@pytest.mark.parametrize("bad", [0, -1, 2.5, math.nan, True])
def test_transformer_params_rejects_bad_d_model(bad):
    with pytest.raises(ValueError, match="d_model"):
        fermi.transformer_params(2, bad)


@pytest.mark.parametrize("name", ["vocab_size", "n_ctx"])
@pytest.mark.parametrize("bad", [-1, 2.5, math.nan, True])
def test_transformer_params_rejects_bad_embeddings(name, bad):
    with pytest.raises(ValueError, match=name):
        fermi.transformer_params(2, 128, **{name: bad})


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, True])
def test_training_flops_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="n_params"):
        fermi.training_flops(bad, 1e9)
    with pytest.raises(ValueError, match="n_tokens"):
        fermi.training_flops(1e9, bad)


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, math.nan, True])
def test_training_seconds_rejects_bad_utilization(bad):
    with pytest.raises(ValueError, match="utilization"):
        fermi.training_seconds(1e20, peak_flops_per_second=1e15, utilization=bad)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: fermi.attention_flops_ratio(0, 128), "n_ctx"),
        (lambda: fermi.attention_flops_ratio(1000, 12.5), "d_model"),
        (lambda: fermi.forward_flops_per_token(-1), "n_params"),
        (lambda: fermi.petaflop_s_days(math.nan), "flops"),
        (lambda: fermi.training_days(1e20, peak_flops_per_second=0, utilization=0.5), "peak_flops_per_second"),
        (lambda: fermi.weights_memory_bytes(1e9, bits=0), "bits"),
        (lambda: fermi.training_memory_bytes(1e9, bytes_per_param=-2), "bytes_per_param"),
        (lambda: fermi.words_read_in_lifetime(hours_per_day=0), "hours_per_day"),
        (lambda: fermi.english_wikipedia_words(n_articles=-5), "n_articles"),
        (lambda: fermi.library_of_congress_words(words_per_book=math.nan), "words_per_book"),
        (lambda: fermi.common_crawl_words(n_pages=True), "n_pages"),
        (lambda: fermi.tokens_from_words(0), "words"),
        (lambda: fermi.words_from_tokens(1e9, tokens_per_word=0), "tokens_per_word"),
        (lambda: fermi.tokens_per_parameter(1e9, 0), "n_params"),
    ],
)
def test_other_functions_name_the_bad_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
