"""Tests of scalinglab.inference: per-position loss, greedy decoding, sampling, teacher forcing,
attention patterns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scalinglab.batches import windows
from scalinglab.inference import (
    answer_token_losses,
    attention_patterns,
    evaluate_per_position,
    greedy_completions,
    loss_per_position,
    sample,
)
from scalinglab.model import GPT, LSTM
from scalinglab.probes.induction import repeated_random_sequence
from scalinglab.runs import GPTConfig, LSTMConfig

TINY = GPTConfig(n_layer=2, n_head=2, d_model=16, n_ctx=64)


@pytest.fixture(scope="module")
def tiny_gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(TINY)


# ---------------------------------------------------------------------------
# Loss along the context


def test_evaluate_per_position_is_the_mean_over_windows_of_each_positions_loss(tiny_gpt):
    tokens = np.random.default_rng(0).integers(0, 256, 500).astype(np.uint8)
    starts = torch.tensor([0, 13, 200, 431])
    per_position = evaluate_per_position(tiny_gpt, tokens, starts, 16, 3, "cpu")
    x, y = windows(tokens, starts, 16)
    logits, _ = tiny_gpt(x)
    by_hand = -logits.log_softmax(dim=-1).gather(-1, y[..., None])[..., 0].mean(dim=0)
    assert per_position.dtype == np.float64 and per_position.shape == (16,)
    np.testing.assert_allclose(per_position, by_hand.detach().numpy(), rtol=1e-5)


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


def test_loss_per_position_at_given_starts_matches_the_windows_one_by_one(tiny_gpt):
    tokens = np.arange(300) % 50
    both = loss_per_position(tiny_gpt, tokens, 16, starts=np.array([0, 100]))
    one = loss_per_position(tiny_gpt, tokens, 16, starts=np.array([0]))
    other = loss_per_position(tiny_gpt, tokens, 16, starts=np.array([100]))
    assert np.allclose(both, (one + other) / 2)
    for bad in (np.array([]), np.array([-1]), np.array([284])):
        with pytest.raises(ValueError, match="^starts"):
            loss_per_position(tiny_gpt, tokens, 16, starts=bad)


# ---------------------------------------------------------------------------
# Decoding


def test_batched_greedy_completions_match_one_at_a_time_sampling(tiny_gpt):
    prompts = ["a -> ", "longer prompt -> ", "x"]
    limits = [3, 5, 4]
    batched = greedy_completions(tiny_gpt, prompts, limits)
    for prompt, limit, completion in zip(prompts, limits, batched):
        alone = sample(tiny_gpt, prompt, limit, temperature=0)[len(prompt) :].split("\n")[0]
        assert completion == alone


def test_greedy_completions_stop_at_a_newline_and_at_the_limit(stub_model):
    writes_c = stub_model("c")
    assert greedy_completions(writes_c, ["ab", "c", "xyz"], [5, 5, 1]) == ["c", "", "c"]
    assert greedy_completions(stub_model(), ["ab"], [3]) == ["\x00\x00\x00"]  # all-zero logits: byte 0


def test_greedy_completions_reject_bad_input(tiny_gpt):
    with pytest.raises(ValueError, match="^max_new_tokens"):
        greedy_completions(tiny_gpt, ["a"], [1, 2])
    with pytest.raises(ValueError, match="^prompts"):
        greedy_completions(tiny_gpt, [""], [1])


def test_sample_is_seeded_and_continues_the_prompt(tiny_gpt):
    text = sample(tiny_gpt, "ab", 40, temperature=1.0, seed=5)
    assert text.startswith("ab") and text == sample(tiny_gpt, b"ab", 40, seed=5)
    assert text != sample(tiny_gpt, "ab", 40, temperature=1.0, seed=6)
    greedy = sample(tiny_gpt, "", 60, temperature=0)
    assert greedy == sample(tiny_gpt, "", 60, temperature=0, seed=9)


def test_sample_rejects_bad_input(tiny_gpt):
    with pytest.raises(ValueError, match="n_tokens"):
        sample(tiny_gpt, "a", 0)
    with pytest.raises(ValueError, match="temperature"):
        sample(tiny_gpt, "a", 5, temperature=-1.0)


def test_answer_token_losses_cover_each_answer_and_its_newline(stub_model, tiny_gpt):
    losses = answer_token_losses(stub_model(), ["\n12+3=", "\nab"], ["15", "cde"])
    assert losses.shape == (3 + 4,)  # "15\n" and "cde\n"
    torch.testing.assert_close(losses, torch.full((7,), math.log(256)))
    # Teacher forcing: each answer token's loss is read after the prompt and the answer before it.
    line = torch.tensor([list(b"\nab" + b"cde\n")])
    log_probs = tiny_gpt(line[:, :-1])[0].log_softmax(dim=-1)[0]
    expected = -log_probs[torch.arange(2, 6), line[0, 3:]]
    torch.testing.assert_close(answer_token_losses(tiny_gpt, ["\nab"], ["cde"]), expected.detach())
    with pytest.raises(ValueError, match="^prompts"):
        answer_token_losses(tiny_gpt, ["a"], ["b", "c"])
    with pytest.raises(ValueError, match="^prompts"):
        answer_token_losses(tiny_gpt, [""], ["b"])


# ---------------------------------------------------------------------------
# Attention patterns


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
