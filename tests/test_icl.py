"""Tests of scalinglab.icl: per-position loss and its fit, few-shot scoring, induction heads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scalinglab.icl import (
    REPEAT_ALPHABET,
    attention_patterns,
    binned_along_context,
    context_plateau,
    evaluate_few_shot,
    exact_match,
    fit_position_power_law,
    greedy_completions,
    icl_score,
    induction_mass,
    induction_mass_scores,
    induction_probe,
    loss_per_position,
    prefix_matching_score,
    prefix_matching_scores,
    previous_token_scores,
    repeated_random_sequence,
)
from scalinglab.model import GPT, LSTM, GPTConfig, LSTMConfig
from scalinglab.train import sample

TINY = GPTConfig(n_layer=2, n_head=2, d_model=16, n_ctx=64)


@pytest.fixture(scope="module")
def tiny_gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(TINY)


class FixedAnswer(torch.nn.Module):
    """A stub language model that writes "c" after any token but "c", and a newline after "c"."""

    def __init__(self, n_ctx: int = 256) -> None:
        super().__init__()
        self.config = GPTConfig(n_ctx=n_ctx)
        self.weight = torch.nn.Parameter(torch.zeros(()))

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        logits = torch.zeros(*idx.shape, 256)
        is_c = idx == ord("c")
        logits[..., ord("c")] = (~is_c).float()
        logits[..., ord("\n")] = is_c.float()
        return logits, None


# ---------------------------------------------------------------------------
# Loss along the context


def test_loss_per_position_is_per_position_deterministic_and_near_uniform_untrained(tiny_gpt):
    tokens = np.random.default_rng(0).integers(0, 256, 5000).astype(np.uint8)
    first = loss_per_position(tiny_gpt, tokens, 32, n_windows=8, seed=1, batch_size=4)
    assert first.shape == (32,)
    np.testing.assert_array_equal(first, loss_per_position(tiny_gpt, tokens, 32, n_windows=8, seed=1, batch_size=4))
    np.testing.assert_allclose(first, loss_per_position(tiny_gpt, tokens, 32, n_windows=8, seed=1, batch_size=3))
    assert not np.array_equal(first, loss_per_position(tiny_gpt, tokens, 32, n_windows=8, seed=2))
    assert np.all(np.abs(first - math.log(256)) < 0.3)


def test_loss_per_position_lets_an_lstm_run_past_its_training_context():
    torch.manual_seed(0)
    lstm = LSTM(LSTMConfig(n_layer=1, d_model=8, n_ctx=8))
    assert loss_per_position(lstm, np.zeros(100, dtype=np.uint8), 16, n_windows=2).shape == (16,)


def test_loss_per_position_rejects_bad_input(tiny_gpt):
    tokens = np.zeros(100, dtype=np.uint8)
    with pytest.raises(ValueError, match="^n_ctx"):
        loss_per_position(tiny_gpt, tokens, TINY.n_ctx + 1)
    with pytest.raises(ValueError, match="^n_ctx"):
        loss_per_position(tiny_gpt, tokens, 0)
    with pytest.raises(ValueError, match="^tokens"):
        loss_per_position(tiny_gpt, tokens[:32], 32)
    with pytest.raises(ValueError, match="^tokens"):
        loss_per_position(tiny_gpt, tokens.reshape(10, 10), 4)
    with pytest.raises(ValueError, match="^n_windows"):
        loss_per_position(tiny_gpt, tokens, 8, n_windows=0)


def _synthetic_curve(n_ctx: int = 128, E: float = 1.5, t0: float = 3.0, alpha: float = 0.5) -> np.ndarray:
    return E + (t0 / np.arange(1, n_ctx + 1)) ** alpha


def test_fit_position_power_law_recovers_a_known_law():
    for start in (1, 4):
        fit = fit_position_power_law(_synthetic_curve(), start=start)
        assert fit.alpha == pytest.approx(0.5, rel=1e-3)
        assert fit.E == pytest.approx(1.5, rel=1e-3)
        assert fit.x0 == pytest.approx(3.0, rel=1e-2)


def test_fit_position_power_law_intervals_cover_the_truth_of_a_noisy_curve():
    noisy = _synthetic_curve() + np.random.default_rng(0).normal(0, 0.005, 128)
    fit = fit_position_power_law(noisy, start=2, n_bootstrap=100, seed=0)
    low, high = fit.intervals["alpha"]
    assert low < 0.5 < high and high - low < 0.2


@pytest.mark.parametrize("start", [0, -1, 127, 128, 200, 1.5, True])
def test_fit_position_power_law_rejects_a_start_outside_the_context(start):
    with pytest.raises(ValueError, match="^start"):
        fit_position_power_law(_synthetic_curve(), start=start)


@pytest.mark.parametrize("curve", [[1.0], [[1.0, 2.0]], [1.0, float("nan"), 2.0]])
def test_loss_curves_must_be_one_dimensional_and_finite(curve):
    with pytest.raises(ValueError, match="^loss_per_position"):
        fit_position_power_law(curve)
    with pytest.raises(ValueError, match="^loss_per_position"):
        icl_score(curve)


def test_icl_score_is_late_minus_early_loss():
    curve = _synthetic_curve(512)
    assert icl_score(curve) == pytest.approx(curve[499] - curve[49])
    assert icl_score(curve, early=1, late=512) == pytest.approx(curve[-1] - curve[0])
    assert icl_score(_synthetic_curve(128)) == pytest.approx(_synthetic_curve(128)[124] - _synthetic_curve(128)[11])
    assert icl_score(_synthetic_curve(2)) < 0


@pytest.mark.parametrize(("early", "late", "name"), [(0, 10, "early"), (5, 129, "late"), (10, 10, "late"), (10, 5, "late")])
def test_icl_score_rejects_positions_outside_the_context(early, late, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        icl_score(_synthetic_curve(128), early=early, late=late)


# ---------------------------------------------------------------------------
# Few-shot tasks


def test_exact_match_counts_identical_strings_only():
    assert exact_match(["tac", "god"], ["tac", "god"]) == 1.0
    assert exact_match(["tac", "go", "x", "Tac"], ["tac", "god", "x ", "tac"]) == 0.25
    assert exact_match([""], ["a"]) == 0.0
    with pytest.raises(ValueError, match="^completions"):
        exact_match(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="^completions"):
        exact_match([], [])


def test_evaluate_few_shot_scores_a_model_with_a_known_answer():
    stub = FixedAnswer()
    right = ("cat", "crocodile", "cup")  # prompts of different lengths, all with answer "c"
    assert evaluate_few_shot(stub, "first_letter", 3, n_prompts=6, seed=0, with_description=True, vocabulary=right) == 1.0
    assert evaluate_few_shot(stub, "first_letter", 3, n_prompts=6, seed=0, with_description=False, vocabulary=("dog",)) == 0.0
    assert evaluate_few_shot(stub, "copy", 2, n_prompts=4, seed=0, with_description=False, vocabulary=("c",)) == 1.0
    assert evaluate_few_shot(stub, "copy", 2, n_prompts=4, seed=0, with_description=False, vocabulary=("cc",)) == 0.0


def test_batched_greedy_completions_match_one_at_a_time_sampling(tiny_gpt):
    prompts = ["a -> ", "longer prompt -> ", "x"]
    limits = [3, 5, 4]
    batched = greedy_completions(tiny_gpt, prompts, limits)
    for prompt, limit, completion in zip(prompts, limits, batched):
        alone = sample(tiny_gpt, prompt, limit, temperature=0)[len(prompt) :].split("\n")[0]
        assert completion == alone


def test_evaluate_few_shot_on_an_untrained_gpt_is_an_accuracy(tiny_gpt):
    accuracy = evaluate_few_shot(tiny_gpt, "last_letter", 2, n_prompts=4, seed=0, with_description=False)
    assert 0.0 <= accuracy <= 1.0


def test_few_shot_rejects_bad_input(tiny_gpt):
    with pytest.raises(ValueError, match="^k"):
        evaluate_few_shot(tiny_gpt, "last_letter", 20, n_prompts=2, seed=0, with_description=False)
    with pytest.raises(ValueError, match="^task"):
        evaluate_few_shot(tiny_gpt, "anagram", 1, n_prompts=2, seed=0, with_description=False)
    with pytest.raises(ValueError, match="^n_prompts"):
        evaluate_few_shot(tiny_gpt, "last_letter", 1, n_prompts=0, seed=0, with_description=False)
    with pytest.raises(ValueError, match="^max_new_tokens"):
        greedy_completions(tiny_gpt, ["a"], [1, 2])
    with pytest.raises(ValueError, match="^prompts"):
        greedy_completions(tiny_gpt, [""], [1])


# ---------------------------------------------------------------------------
# Induction heads


def test_repeated_random_sequence_repeats_a_seeded_sequence():
    idx = repeated_random_sequence(10, seed=0, alphabet=b"xyz")
    assert idx.shape == (1, 20) and idx.dtype == torch.long
    assert torch.equal(idx[0, :10], idx[0, 10:]) and set(idx[0].tolist()) <= set(b"xyz")
    assert torch.equal(idx, repeated_random_sequence(10, seed=0, alphabet=b"xyz"))
    assert not torch.equal(idx, repeated_random_sequence(10, seed=1, alphabet=b"xyz"))
    assert set(repeated_random_sequence(100, seed=0)[0].tolist()) <= set(REPEAT_ALPHABET)
    with pytest.raises(ValueError, match="^length"):
        repeated_random_sequence(0, seed=0)
    with pytest.raises(ValueError, match="^alphabet"):
        repeated_random_sequence(4, seed=0, alphabet=b"")


def test_attention_patterns_are_causal_distributions_that_reproduce_the_attention_output(tiny_gpt):
    idx = repeated_random_sequence(8, seed=0)
    outputs = []
    hook = tiny_gpt.blocks[1].attn.proj.register_forward_hook(lambda m, args, out: outputs.append(args[0]))
    inputs = []
    hook_in = tiny_gpt.blocks[1].attn.register_forward_hook(lambda m, args, out: inputs.append(args[0]))
    tiny_gpt.train()
    try:
        patterns = attention_patterns(tiny_gpt, idx)
    finally:
        hook.remove()
        hook_in.remove()
    assert tiny_gpt.training
    tiny_gpt.eval()
    assert patterns.shape == (TINY.n_layer, TINY.n_head, 16, 16)
    torch.testing.assert_close(patterns.sum(dim=-1), torch.ones(TINY.n_layer, TINY.n_head, 16))
    assert torch.all(patterns.triu(diagonal=1) == 0)
    x = inputs[0]
    _, _, v = tiny_gpt.blocks[1].attn.qkv(x).split(TINY.d_model, dim=2)
    v = v.view(1, 16, TINY.n_head, -1).transpose(1, 2)
    y = (patterns[1][None] @ v).transpose(1, 2).reshape(1, 16, TINY.d_model)
    torch.testing.assert_close(y, outputs[0], atol=1e-6, rtol=1e-5)


def test_attention_patterns_reject_bad_input(tiny_gpt):
    with pytest.raises(ValueError, match="^idx"):
        attention_patterns(tiny_gpt, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="^idx"):
        attention_patterns(tiny_gpt, torch.zeros(1, TINY.n_ctx + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="^model"):
        attention_patterns(LSTM(LSTMConfig(n_layer=1, d_model=8)), torch.zeros(1, 4, dtype=torch.long))


def test_prefix_matching_score_is_one_for_an_induction_pattern_and_low_for_a_uniform_one():
    length = 32
    size = 2 * length
    induction = np.eye(size)  # first copy: attend to self
    for i in range(length, size):
        induction[i] = 0
        induction[i, i - length + 1] = 1
    assert prefix_matching_score(induction, length) == 1.0
    uniform = np.tril(np.ones((size, size))) / np.arange(1, size + 1)[:, None]
    score = prefix_matching_score(torch.from_numpy(uniform), length)
    assert score == pytest.approx(np.mean(1 / np.arange(length + 1, size + 1)))
    assert score < 0.03  # about ln(2) / length


def test_prefix_matching_score_rejects_bad_input():
    with pytest.raises(ValueError, match="^pattern"):
        prefix_matching_score(np.eye(10), 4)
    with pytest.raises(ValueError, match="^length"):
        prefix_matching_score(np.eye(10), 0)


def test_prefix_matching_scores_give_one_score_per_head(tiny_gpt):
    scores = prefix_matching_scores(tiny_gpt, length=16, seed=0)
    assert scores.shape == (TINY.n_layer, TINY.n_head)
    assert np.all((scores >= 0) & (scores <= 1))
    with pytest.raises(ValueError, match="^length"):
        prefix_matching_scores(tiny_gpt, length=TINY.n_ctx // 2 + 1)
    with pytest.raises(ValueError, match="^model"):
        prefix_matching_scores(LSTM(LSTMConfig(n_layer=1, d_model=8)))


# ---------------------------------------------------------------------------
# Binning along the context and where the context stops helping


def test_binned_along_context_averages_log_spaced_bins_covering_every_position():
    curve = np.arange(1.0, 257.0)
    centres, means = binned_along_context(curve, n_bins=8)
    assert np.all(np.diff(centres) > 0) and centres[0] == 1 and centres[-1] < 256
    # A linear curve's bin mean is the midpoint of the bin, at least the geometric centre.
    assert means[0] == 1.0 and np.all(means >= centres - 1e-9) and means[-1] < 256


def test_context_plateau_finds_where_a_curve_flattens():
    positions = np.arange(1, 257)
    flat_after_100 = np.where(positions < 100, 2.0 - positions / 100, 1.0)
    plateau = context_plateau(flat_after_100, tolerance_nats=0.02)
    assert 80 <= plateau <= 110
    still_falling = 1.0 + positions**-0.3
    assert context_plateau(still_falling, tolerance_nats=0.02) > 150
    assert context_plateau(np.ones(256)) == 1
    with pytest.raises(ValueError, match="^tolerance_nats"):
        context_plateau(flat_after_100, tolerance_nats=0)


def test_loss_per_position_at_given_starts_matches_the_windows_one_by_one(tiny_gpt):
    tokens = np.arange(300) % 50
    both = loss_per_position(tiny_gpt, tokens, 16, starts=np.array([0, 100]))
    one = loss_per_position(tiny_gpt, tokens, 16, starts=np.array([0]))
    other = loss_per_position(tiny_gpt, tokens, 16, starts=np.array([100]))
    assert np.allclose(both, (one + other) / 2)
    for bad in (np.array([]), np.array([-1]), np.array([284])):
        with pytest.raises(ValueError, match="^starts"):
            loss_per_position(tiny_gpt, tokens, 16, starts=bad)


def test_induction_mass_is_one_for_an_induction_head_and_the_repeat_rate_for_a_uniform_head():
    length = 20
    tokens = np.concatenate([np.arange(length), np.arange(length)])
    size = 2 * length
    induction = np.eye(size)
    for i in range(length, size):
        induction[i] = 0
        induction[i, i - length + 1] = 1
    assert induction_mass(induction, tokens) == 1.0
    rng = np.random.default_rng(0)
    letters = rng.integers(0, 4, size=400)
    uniform = np.tril(np.ones((400, 400))) / np.arange(1, 401)[:, None]
    assert induction_mass(uniform, letters) == pytest.approx(0.25, abs=0.03)
    # Attention to the token after *every* earlier occurrence (a statistical induction head) scores 1.
    statistical = np.zeros((400, 400))
    for i in range(400):
        targets = [j for j in range(1, i + 1) if letters[j - 1] == letters[i]]
        statistical[i, targets or [i]] = 1 / max(1, len(targets))
    assert induction_mass(statistical, letters) == pytest.approx(1.0)


def test_induction_mass_rejects_bad_input(tiny_gpt):
    with pytest.raises(ValueError, match="^pattern"):
        induction_mass(np.eye(4), np.arange(5))
    with pytest.raises(ValueError, match="^tokens"):
        induction_mass(np.eye(4), np.arange(4))
    with pytest.raises(ValueError, match="^model"):
        induction_mass_scores(LSTM(LSTMConfig(n_layer=1, d_model=8)), np.array([1, 2, 1, 2]))
    scores = induction_mass_scores(tiny_gpt, np.array([5, 6, 7, 5, 6, 7, 5, 6]))
    assert scores.shape == (TINY.n_layer, TINY.n_head) and np.all((scores >= 0) & (scores <= 1 + 1e-9))


def test_previous_token_scores_and_the_induction_probe_describe_every_head(tiny_gpt):
    tokens = np.array([5, 6, 7, 5, 6, 7, 5, 6, 9, 5])
    previous = previous_token_scores(tiny_gpt, tokens)
    patterns = attention_patterns(tiny_gpt, torch.as_tensor(tokens)[None]).numpy()
    assert previous.shape == (TINY.n_layer, TINY.n_head)
    assert previous[1, 0] == pytest.approx(np.mean([patterns[1, 0, i, i - 1] for i in range(1, 10)]))
    record = induction_probe(tiny_gpt, tokens)
    mass = np.array(record["induction_mass"])
    assert record["tokens"] == tokens.tolist() and mass.shape == previous.shape
    assert mass[record["best_layer"], record["best_head"]] == mass.max()
    assert np.allclose(record["pattern"], patterns[record["best_layer"], record["best_head"]], atol=1e-4)
    with pytest.raises(ValueError, match="^tokens"):
        previous_token_scores(tiny_gpt, np.array([1]))
