"""Published Chinchilla constants and their allocation; the output head's FLOPs."""

import numpy as np
import pytest

from scalinglab import fermi
from scalinglab.fit import PUBLISHED_CHINCHILLA_FITS, ChinchillaFit

HOFFMANN = "Hoffmann et al. 2022, approach 3"
BESIROGLU = "Besiroglu et al. 2024 refit"
#: Chinchilla's budget, the same as Gopher's (Hoffmann et al. 2022), FLOPs (6 x 70e9
#: parameters x 1.4e12 tokens is 5.88e23).
CHINCHILLA_FLOPS = 5.76e23


# --- published constants ----------------------------------------------------------------


def test_published_constants_are_the_papers():
    assert PUBLISHED_CHINCHILLA_FITS[HOFFMANN] == {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    assert PUBLISHED_CHINCHILLA_FITS[BESIROGLU] == {
        "E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658,
    }


def test_published_exponents():
    # Hoffmann et al. report a = 0.46 for approach 3 (0.45 from the rounded constants);
    # Besiroglu et al.'s refit gives 0.51, next to approaches 1 and 2 (0.50, 0.49).
    hoffmann = ChinchillaFit.from_parameters(PUBLISHED_CHINCHILLA_FITS[HOFFMANN])
    besiroglu = ChinchillaFit.from_parameters(PUBLISHED_CHINCHILLA_FITS[BESIROGLU])
    assert hoffmann.a == pytest.approx(0.45, abs=0.005)
    assert besiroglu.a == pytest.approx(0.51, abs=0.005)


def test_besiroglu_gives_twenty_tokens_per_parameter_at_chinchillas_budget():
    law = ChinchillaFit.from_parameters(PUBLISHED_CHINCHILLA_FITS[BESIROGLU])
    n_opt, d_opt = law.compute_optimal(CHINCHILLA_FLOPS)
    assert d_opt / n_opt == pytest.approx(20, rel=0.25)
    assert 6 * n_opt * d_opt == pytest.approx(CHINCHILLA_FLOPS)


def test_hoffmann_approach_3_gives_many_more_tokens_per_parameter():
    hoffmann = ChinchillaFit.from_parameters(PUBLISHED_CHINCHILLA_FITS[HOFFMANN])
    besiroglu = ChinchillaFit.from_parameters(PUBLISHED_CHINCHILLA_FITS[BESIROGLU])
    n_h, d_h = hoffmann.compute_optimal(CHINCHILLA_FLOPS)
    n_b, d_b = besiroglu.compute_optimal(CHINCHILLA_FLOPS)
    assert d_h / n_h > 60  # measured: about 93
    assert d_h / n_h > 3 * (d_b / n_b)


@pytest.mark.parametrize("name", [HOFFMANN, BESIROGLU])
def test_compute_optimal_minimises_the_loss_on_its_isoflop(name):
    law = ChinchillaFit.from_parameters(PUBLISHED_CHINCHILLA_FITS[name])
    n_opt, _ = law.compute_optimal(CHINCHILLA_FLOPS)
    sizes = n_opt * np.array([0.5, 0.9, 1.0, 1.1, 2.0])
    losses = law.predict(sizes, CHINCHILLA_FLOPS / (6 * sizes))
    assert np.argmin(losses) == 2


def test_a_law_written_down_is_not_a_fit():
    law = ChinchillaFit.from_parameters(PUBLISHED_CHINCHILLA_FITS[BESIROGLU])
    assert law.converged and law.n_points == 0 and law.intervals == {} and np.isnan(law.loss)
    assert law.parameters == PUBLISHED_CHINCHILLA_FITS[BESIROGLU]


def test_from_parameters_checks_its_input():
    good = PUBLISHED_CHINCHILLA_FITS[BESIROGLU]
    with pytest.raises(ValueError, match="exactly the keys E, A, B, alpha, beta"):
        ChinchillaFit.from_parameters({k: v for k, v in good.items() if k != "E"})
    with pytest.raises(ValueError, match="exactly the keys"):
        ChinchillaFit.from_parameters({**good, "a": 0.5})
    with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
        ChinchillaFit.from_parameters({**good, "alpha": -0.3})


# --- the output head's FLOPs ---------------------------------------------------------------


def test_head_flops_per_token_hand_count():
    # d_model 128, vocabulary 256: forward 2 * 128 * 256 = 65,536; backward twice that;
    # 196,608 in all
    assert fermi.head_flops_per_token(128, 256) == 196_608
    assert isinstance(fermi.head_flops_per_token(1, 1), int)
    # GPT-3 175B: 6 * 12288 * 50257 = 3.71e9 FLOPs per token, 0.35% of its 6N = 1.05e12
    gpt3 = fermi.head_flops_per_token(12288, 50257)
    assert gpt3 == 6 * 12288 * 50257
    assert gpt3 / (6 * fermi.GPT3.formula_params()) == pytest.approx(0.00355, abs=0.0001)


@pytest.mark.parametrize(
    ("d_model", "vocab_size", "name"), [(0, 256, "d_model"), (128, 0, "vocab_size"), (1.5, 2, "d_model")]
)
def test_head_flops_per_token_bad_input(d_model, vocab_size, name):
    with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
        fermi.head_flops_per_token(d_model, vocab_size)


@pytest.mark.parametrize("tied", [True, False])
def test_gpt_flops_with_head(tied):
    from scalinglab.model import GPT, GPTConfig

    config = GPTConfig(n_layer=2, n_head=2, d_model=32, n_ctx=16, vocab_size=256, tied_embeddings=tied)
    model = GPT(config)
    n = 2 * (12 * 32**2 + 13 * 32) + 2 * 32  # non-embedding N with biases, see model.py
    assert model.n_params(embedding=False) == n
    head = 6 * 32 * 256
    assert model.flops_per_token() == 6 * n + 6 * 2 * 16 * 32  # unchanged: Kaplan's count
    assert model.flops_per_token_with_head() == 6 * n + 6 * 2 * 16 * 32 + head
    assert model.flops_per_token_with_head() - model.flops_per_token() == fermi.head_flops_per_token(32, 256)


def test_lstm_flops_with_head():
    from scalinglab.model import LSTM, LSTMConfig

    model = LSTM(LSTMConfig(n_layer=1, d_model=16, n_ctx=8, vocab_size=64))
    assert model.flops_per_token() == 6 * (8 * 16**2 + 8 * 16)
    assert model.flops_per_token_with_head() - model.flops_per_token() == 6 * 16 * 64
