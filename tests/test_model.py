"""Tests of scalinglab.model: parameter and FLOP counts against the formulas, behaviour, attention
weights, validation (the configs live in the torch-free scalinglab.runs)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from scalinglab import fermi
from scalinglab.model import GPT, LSTM, MODELS, GPTConfig, LSTMConfig, build_model
from scalinglab.runs import MODEL_CONFIGS, model_config_from_dict


def exact_gpt_non_embedding_params(n_layer: int, d: int, bias: bool) -> int:
    """Every non-embedding tensor, counted by hand.

    Per block: qkv ``3d^2 (+3d)``, attention output ``d^2 (+d)``, MLP in ``4d^2 (+4d)``,
    MLP out ``4d^2 (+d)``, two LayerNorms ``2d (+2d)``; then a final LayerNorm ``d (+d)``.
    """
    if bias:
        return n_layer * (12 * d**2 + 13 * d) + 2 * d
    return n_layer * (12 * d**2 + 2 * d) + d


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize(("n_layer", "d_model", "n_ctx"), [(1, 32, 16), (2, 64, 64), (3, 128, 32)])
def test_gpt_parameter_counts_equal_the_formulas(n_layer, d_model, n_ctx, tied, bias):
    config = GPTConfig(n_layer=n_layer, n_head=4, d_model=d_model, n_ctx=n_ctx, tied_embeddings=tied, bias=bias)
    model = GPT(config)
    non_embedding = model.n_params(embedding=False)
    assert non_embedding == exact_gpt_non_embedding_params(n_layer, d_model, bias)
    head = 0 if tied else 256 * d_model
    assert model.n_params(embedding=True) == non_embedding + 256 * d_model + n_ctx * d_model + head
    # Kaplan's 12 L d^2 leaves out biases and LayerNorms: off by about 13 / (12 d).
    assert non_embedding == pytest.approx(fermi.transformer_params(n_layer, d_model), rel=1.5 / d_model)
    if tied:
        with_embeddings = fermi.transformer_params(n_layer, d_model, vocab_size=256, n_ctx=n_ctx)
        assert model.n_params(embedding=True) - non_embedding == with_embeddings - fermi.transformer_params(
            n_layer, d_model
        )


def test_tied_head_shares_the_token_embedding():
    model = GPT(GPTConfig(tied_embeddings=True))
    assert model.head.weight is model.token_embedding.weight
    untied = GPT(GPTConfig(tied_embeddings=False))
    assert untied.head.weight is not untied.token_embedding.weight


@pytest.mark.parametrize(("n_layer", "d_model", "n_ctx"), [(2, 128, 256), (4, 256, 256), (1, 64, 1024)])
def test_gpt_flops_per_token_follow_kaplan(n_layer, d_model, n_ctx):
    model = GPT(GPTConfig(n_layer=n_layer, n_head=4, d_model=d_model, n_ctx=n_ctx))
    n = model.n_params(embedding=False)
    assert model.flops_per_token() == 6 * n + 6 * n_layer * n_ctx * d_model
    kaplan_n = fermi.transformer_params(n_layer, d_model)
    formula = fermi.training_flops(kaplan_n, 1) * (1 + fermi.attention_flops_ratio(n_ctx, d_model))
    assert model.flops_per_token() == pytest.approx(formula, rel=1.5 / d_model)


@pytest.mark.parametrize("tied", [True, False])
def test_lstm_counts(tied):
    n_layer, d = 2, 48
    model = LSTM(LSTMConfig(n_layer=n_layer, d_model=d, n_ctx=32, tied_embeddings=tied))
    assert model.n_params(embedding=False) == n_layer * (8 * d**2 + 8 * d)
    embedding = 256 * d * (1 if tied else 2)
    assert model.n_params(embedding=True) == model.n_params(embedding=False) + embedding
    assert model.flops_per_token() == 6 * model.n_params(embedding=False)


@pytest.mark.parametrize("config", [GPTConfig(n_layer=2, d_model=32, n_ctx=16), LSTMConfig(d_model=32, n_ctx=16)])
def test_forward_shapes_and_losses(config):
    torch.manual_seed(0)
    model = build_model(config)
    idx = torch.randint(0, 256, (3, 16))
    targets = torch.randint(0, 256, (3, 16))
    logits, loss = model(idx)
    assert logits.shape == (3, 16, 256) and loss is None
    _, mean_loss = model(idx, targets)
    _, per_position = model(idx, targets, reduction="none")
    assert per_position.shape == (3, 16)
    assert mean_loss.item() == pytest.approx(per_position.mean().item(), rel=1e-5)
    assert mean_loss.item() == pytest.approx(torch.log(torch.tensor(256.0)).item(), abs=0.1)  # small init


@pytest.mark.parametrize("config", [GPTConfig(n_layer=2, d_model=32, n_ctx=16), LSTMConfig(d_model=32, n_ctx=16)])
def test_models_are_causal(config):
    torch.manual_seed(0)
    model = build_model(config).eval()
    idx = torch.randint(0, 256, (1, 16))
    changed = idx.clone()
    changed[0, 10] = (idx[0, 10] + 1) % 256
    logits, _ = model(idx)
    logits_changed, _ = model(changed)
    assert torch.allclose(logits[0, :10], logits_changed[0, :10], atol=1e-6)
    assert not torch.allclose(logits[0, 10:], logits_changed[0, 10:])


@pytest.mark.parametrize(
    "config",
    [
        GPTConfig(n_layer=1, n_head=2, d_model=32, n_ctx=16),
        LSTMConfig(n_layer=1, d_model=64, n_ctx=16, tied_embeddings=False),
    ],
)
def test_models_overfit_one_small_batch(config):
    torch.manual_seed(0)
    model = build_model(config)
    idx = torch.randint(0, 256, (4, 17))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05


def test_attention_weights_are_the_softmax_of_each_blocks_queries_and_keys():
    config = GPTConfig(n_layer=2, n_head=2, d_model=16, n_ctx=16)
    torch.manual_seed(0)
    model = GPT(config).eval()
    block_inputs: list[torch.Tensor] = []
    hooks = [block.register_forward_pre_hook(lambda module, args: block_inputs.append(args[0])) for block in model.blocks]
    idx = torch.randint(0, 256, (2, 12))
    try:
        weights = model.attention_weights(idx)
    finally:
        for hook in hooks:
            hook.remove()
    assert weights.shape == (config.n_layer, 2, config.n_head, 12, 12) and weights.dtype == torch.float32
    d_head = config.d_model // config.n_head
    for layer, (block, x) in enumerate(zip(model.blocks, block_inputs, strict=True)):
        q, k, _ = block.attn.qkv(block.ln_1(x)).split(config.d_model, dim=2)
        q, k = (t.view(2, 12, config.n_head, d_head).transpose(1, 2) for t in (q, k))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d_head)
        scores = scores.masked_fill(torch.ones(12, 12).triu(diagonal=1).bool(), float("-inf"))
        by_hand = scores.exp() / scores.exp().sum(dim=-1, keepdim=True)
        torch.testing.assert_close(weights[layer], by_hand, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(config.n_layer, 2, config.n_head, 12))
    past = torch.ones(12, 12).tril().bool()
    assert torch.all(weights[..., ~past] == 0) and torch.all(weights[..., past] > 0)


def test_every_architecture_has_a_config_and_a_module():
    assert set(MODELS) == set(MODEL_CONFIGS) == {"gpt", "lstm"}
    for arch, config_class in MODEL_CONFIGS.items():
        model = build_model(config_class(n_layer=1, d_model=16, n_ctx=8))
        assert isinstance(model, MODELS[arch]) and model.config.arch == arch


def test_model_configs_round_trip_through_json():
    for config in (GPTConfig(n_layer=3, bias=False), LSTMConfig(d_model=64)):
        again = model_config_from_dict(json.loads(json.dumps(config.to_dict())))
        assert again == config and hash(again) == hash(config)
    with pytest.raises(ValueError, match="arch"):
        model_config_from_dict({"arch": "rnn"})
    with pytest.raises(ValueError, match="^'n_head' is not a field of a 'lstm' model; it has: arch, d_model"):
        model_config_from_dict({"arch": "lstm", "n_head": 4})


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"n_layer": 0}, "n_layer"),
        ({"n_head": 0}, "n_head"),
        ({"d_model": 100, "n_head": 3}, "d_model"),
        ({"n_ctx": 0}, "n_ctx"),
        ({"vocab_size": 0}, "vocab_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"tied_embeddings": "yes"}, "tied_embeddings"),
        ({"bias": 1}, "bias"),
    ],
)

def test_gpt_config_rejects_bad_fields(fields, name):
    with pytest.raises(ValueError, match=name):
        GPTConfig(**fields)


@pytest.mark.parametrize(
    ("fields", "name"), [({"n_layer": 0}, "n_layer"), ({"d_model": -1}, "d_model"), ({"dropout": -0.1}, "dropout")]
)
def test_lstm_config_rejects_bad_fields(fields, name):
    with pytest.raises(ValueError, match=name):
        LSTMConfig(**fields)


def test_forward_rejects_bad_input():
    model = GPT(GPTConfig(n_layer=1, d_model=32, n_ctx=8))
    with pytest.raises(ValueError, match="n_ctx"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="idx"):
        model(torch.zeros(9, dtype=torch.long))
    with pytest.raises(ValueError, match="reduction"):
        model(torch.zeros(1, 8, dtype=torch.long), torch.zeros(1, 8, dtype=torch.long), reduction="sum")
    with pytest.raises(ValueError, match="config"):
        build_model({"n_layer": 1})
