"""Tests of scalinglab.transfer: effective data on hand-made curves, fine-tuning configs (the
transfer law, D_T = k D_F^alpha N^beta, is tested with the other fits in test_fit.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scalinglab.corpora import CorpusConfig
from scalinglab.runs import GPTConfig, TrainConfig
from scalinglab.train import pretraining_config
from scalinglab.transfer import effective_data_tokens, effective_data_transferred, fine_tuning_config


def scratch_law(tokens):
    """A hand-made from-scratch curve: L(D) = 1 + (1e4 / D)^0.3."""
    return 1 + (1e4 / np.asarray(tokens, dtype=float)) ** 0.3


SCRATCH_TOKENS = np.array([1e3, 1e4, 1e5, 1e6])


def test_effective_data_is_exact_at_the_measured_sizes():
    effective = effective_data_tokens(SCRATCH_TOKENS, scratch_law(SCRATCH_TOKENS), scratch_law([1e4, 1e5]))
    assert effective == pytest.approx([1e4, 1e5], rel=1e-9)


def test_effective_data_between_sizes_is_close_to_the_law():
    tokens = 1e3 * 4.0 ** np.arange(5)  # the recorded sweep's spacing: 4x
    effective = effective_data_tokens(tokens, scratch_law(tokens), scratch_law([3e4]))
    assert effective[0] == pytest.approx(3e4, rel=0.1)


def test_effective_data_transferred_subtracts_the_fine_tuning_data():
    # a model fine-tuned on 1e3 tokens that reaches the loss of 1e5 from-scratch tokens
    transferred = effective_data_transferred(SCRATCH_TOKENS, scratch_law(SCRATCH_TOKENS), [1e3], scratch_law([1e5]))
    assert transferred == pytest.approx([1e5 - 1e3])


def test_effective_data_outside_the_scratch_curve_is_nan():
    losses = scratch_law(SCRATCH_TOKENS)
    effective = effective_data_tokens(SCRATCH_TOKENS, losses, [losses.min() - 0.01, losses.max() + 0.01])
    assert np.isnan(effective).all()


def test_a_noisy_rise_in_the_scratch_curve_is_flattened():
    losses = scratch_law(SCRATCH_TOKENS)
    losses[2] = losses[1] + 0.01  # 1e5 tokens came out worse than 1e4: noise
    effective = effective_data_tokens(SCRATCH_TOKENS, losses, [losses[3]])
    assert effective == pytest.approx([1e6])


def test_effective_data_needs_two_distinct_sizes():
    with pytest.raises(ValueError, match="scratch_tokens must hold at least 2 distinct sizes"):
        effective_data_tokens([1e3, 1e3], [2.0, 1.9], [1.95])


CODE = CorpusConfig(kind="code", n_tokens=100_000)
TEXT = CorpusConfig(kind="stdlib", n_tokens=100_000)
BASE = TrainConfig(model=GPTConfig(n_layer=1, d_model=16, n_head=2, n_ctx=32), corpus=CODE, tokens=4096)


def test_fine_tuning_config_sets_the_data_and_the_pretraining():
    config = fine_tuning_config(BASE, 8192, pretrain_corpus=TEXT, pretrain_tokens=4096)
    assert config.unique_tokens == 8192 and config.pretrain_corpus == TEXT
    pretrain = pretraining_config(config)
    assert pretrain.corpus == TEXT and pretrain.tokens == 4096 and pretrain.unique_tokens is None
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.config_hash() != fine_tuning_config(BASE, 8192).config_hash()


def test_a_pretraining_lr_of_its_own_shares_the_pretraining_across_fine_tuning_rates():
    """With pretrain_lr, fine-tuned runs at different lrs pre-train the same run (one cache
    file, one pre-trained model); without it each lr pre-trains anew at its own rate."""
    fine = [dataclasses.replace(fine_tuning_config(BASE, 8192, pretrain_corpus=TEXT, pretrain_tokens=4096), lr=lr,
                                pretrain_lr=3e-3) for lr in (1e-4, 1e-3)]
    assert {pretraining_config(c).config_hash() for c in fine} == {pretraining_config(fine[0]).config_hash()}
    assert pretraining_config(fine[0]).lr == 3e-3 and pretraining_config(fine[0]).pretrain_lr is None
    plain = [dataclasses.replace(c, pretrain_lr=None) for c in fine]
    assert [pretraining_config(c).lr for c in plain] == [1e-4, 1e-3]
    assert TrainConfig.from_dict(fine[0].to_dict()) == fine[0]
    assert fine[0].config_hash() != plain[0].config_hash()
    assert "pretrain_lr" not in BASE.identity()  # a default: old run ids are unchanged
    with pytest.raises(ValueError, match="^pretrain_lr needs pretrain_corpus"):
        dataclasses.replace(BASE, pretrain_lr=1e-3)
    with pytest.raises(ValueError, match="^pretrain_lr must be"):
        dataclasses.replace(fine[0], pretrain_lr=-1.0)


def test_a_fine_tuning_set_larger_than_the_corpus_is_named():
    with pytest.raises(ValueError, match=r"fine_tuning_tokens must be at most the [\d,]+ training tokens of the 'code' corpus"):
        fine_tuning_config(BASE, 200_000)


def test_pretraining_needs_both_corpus_and_tokens():
    with pytest.raises(ValueError, match="pretrain_corpus and pretrain_tokens: give both or neither"):
        TrainConfig(model=BASE.model, corpus=CODE, tokens=4096, pretrain_corpus=TEXT)


def test_pretrained_weights_are_loaded_before_fine_tuning(tmp_path, monkeypatch):
    from scalinglab.train import pretrained_weights, train, train_model

    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path))
    config = fine_tuning_config(BASE, 4096, pretrain_corpus=TEXT, pretrain_tokens=2048)
    weights = pretrained_weights(config)
    assert len(list((tmp_path / "pretrained").glob("*.pt"))) == 1
    _, pretrained = train_model(pretraining_config(config))
    for name, tensor in pretrained.state_dict().items():
        assert np.allclose(tensor.numpy(), weights[name].numpy())
    first = train(config)
    again = train(config)  # from the cache: the same run
    assert first.val_loss_nats == again.val_loss_nats
    assert first.val_loss_nats != train(fine_tuning_config(BASE, 4096)).val_loss_nats


# ---------------------------------------------------------------------------
# A store of fine-tuned and from-scratch runs, and the transfer claims


def transfer_store_results(fake_result, *, alpha=0.2, beta=0.4, edge=False, in_warmup=False):
    """Three widths; from scratch on D = 32k..8.4M code tokens with early-stopped loss
    1 + (2e4 (128/d) / D)^0.4, fine-tuned on D_F = 32k..2.1M to the scratch loss at
    D_F + D_T, D_T = 100 D_F^alpha N^beta; each point at three lrs, the middle one best
    (or, with ``edge``, the highest), its best evaluation the ninth of 16 log-spaced ones
    (or, with ``in_warmup``, the first, at 1% of the run)."""
    text = CorpusConfig(kind="docstrings", n_tokens=35_000_000)
    code = CorpusConfig(kind="package_code", n_tokens=35_000_000)
    results = []
    for d in (32, 64, 128):
        n = 24 * d**2

        def scratch_loss(tokens):
            return 1.0 + (2e4 * (128 / d) / tokens) ** 0.4

        points = [(u, None, scratch_loss(u)) for u in (32_768, 131_072, 524_288, 2_097_152, 8_388_608)]
        points += [(u, text, scratch_loss(u + 100 * u**alpha * n**beta)) for u in (32_768, 131_072, 524_288, 2_097_152)]
        for unique, pretrain, loss in points:
            for lr, worse in ((1e-3, 0.05), (2e-3, 0.0), (4e-3, 0.03)):
                worse = (0.0 if lr == 4e-3 else 0.02) if edge and pretrain is not None else worse
                curve = [loss + worse + 0.3 * abs(i - 8) / 8 for i in range(16)]
                if in_warmup and pretrain is not None:
                    curve = [loss + worse + 0.01 * i for i in range(16)]
                extra = {"pretrain_corpus": pretrain, "pretrain_tokens": 8_000_000, "pretrain_lr": 6e-3} if pretrain else {}
                config = TrainConfig(model=GPTConfig(n_layer=2, n_head=4, d_model=d, n_ctx=64), corpus=code,
                                     tokens=4 * unique, unique_tokens=unique, lr=lr, n_evals=16, **extra)
                val_tokens = [int(t) for t in np.geomspace(4 * unique / 100, 4 * unique, 16)]
                results.append(fake_result(config, n_params=n, val_loss_nats=curve, final_val_loss_nats=curve[-1],
                                           val_tokens=val_tokens))
    return results


def _store(path, results):
    """A results store at ``path`` holding ``results``."""
    from scalinglab.runs import run_record
    from scalinglab.store import ResultsStore

    store = ResultsStore(path, create=True)
    for result in results:
        store.put(run_record(result, {"device": "cpu", "date": "2026-01-01T00:00:00+00:00"}))
    return path


def _transfer_rows(tmp_path, results):
    from scalinglab.report import CLAIMS, rows

    _store(tmp_path / "transfer_finetune", results)
    claims = [CLAIMS["transfer_data_exponent"], CLAIMS["transfer_size_exponent"]]
    return {row["claim"]: row for row in rows(tmp_path, claims=claims)}


def test_transfer_by_size_keeps_each_points_best_rate_and_measures_d_t(fake_result, tmp_path):
    from scalinglab.results import RunTable, load_table
    from scalinglab.transfer import transfer_by_size

    sizes = transfer_by_size(load_table(_store(tmp_path / "transfer", transfer_store_results(fake_result))))
    assert list(sizes) == [24 * 32**2, 24 * 64**2, 24 * 128**2]
    size = sizes[24 * 128**2]
    assert size.d_model == 128 and size.scratch_tokens.size == 5 and size.fine_tuning_tokens.size == 4
    assert np.all(size.fine_tuned_lr == 2e-3) and size.fine_tuned_lr_interior.all() and size.scratch_lr_interior.all()
    assert np.allclose(size.best_at_fraction, np.geomspace(0.01, 1, 16)[8], rtol=1e-3)
    truth = 100 * size.fine_tuning_tokens**0.2 * size.n_params**0.4
    # D_E = D_F + D_T, interpolated between scratch points 4x apart (D_T, a difference, is less exact)
    np.testing.assert_allclose(size.transferred_tokens + size.fine_tuning_tokens, truth + size.fine_tuning_tokens,
                               rtol=0.1)
    with pytest.raises(ValueError, match="^table must hold"):
        transfer_by_size(RunTable(()))
    with pytest.raises(ValueError, match="^table must be a RunTable"):
        transfer_by_size([])


def test_the_transfer_claims_follow_the_exponents_and_the_protocol(fake_result, tmp_path):
    found = _transfer_rows(tmp_path / "law", transfer_store_results(fake_result, alpha=0.18, beta=0.38))
    assert found["transfer_size_exponent"]["measured"] == pytest.approx(0.38, abs=0.05)
    assert found["transfer_data_exponent"]["measured"] == pytest.approx(0.18, abs=0.08)
    assert "0 points whose best came inside the warm-up" in found["transfer_data_exponent"]["note"]
    edge = _transfer_rows(tmp_path / "edge", transfer_store_results(fake_result, edge=True))
    assert edge["transfer_size_exponent"]["measured"] is None
    assert "edge of the rates tried" in edge["transfer_size_exponent"]["note"]
    warm = _transfer_rows(tmp_path / "warm", transfer_store_results(fake_result, in_warmup=True))
    assert warm["transfer_data_exponent"]["measured"] is None  # every point left out: nothing to fit
    assert "12 points whose best came inside the warm-up" in warm["transfer_data_exponent"]["note"]


def test_the_law_leaves_out_points_whose_best_came_inside_the_warm_up(fake_result, tmp_path):
    from scalinglab.results import load_table
    from scalinglab.transfer import describe_transfer_scans, transfer_by_size, transfer_law_points

    table = load_table(_store(tmp_path / "transfer", transfer_store_results(fake_result)))
    sizes = transfer_by_size(table)
    points = transfer_law_points(sizes)  # each point against its own run's warm-up
    assert all(np.all(size.fine_tuned_warmup_fraction == table.results[0].config.warmup_fraction)
               for size in sizes.values())
    assert points.in_warmup == 0 and points.fine_tuning_tokens.size == 12
    assert set(points.n_params) == set(sizes) and np.all(points.transferred_tokens > 0)
    late = transfer_law_points(sizes, 0.5)  # every best came at 0.1 of its run: all inside this "warm-up"
    assert late.in_warmup == 12 and late.fine_tuning_tokens.size == 0
    with pytest.raises(ValueError, match="^warmup_fraction must be in"):
        transfer_law_points(sizes, 1.0)
    lines = describe_transfer_scans(table).splitlines()
    assert len(lines) == 3 * 9 and all("best 0.002" in line and "(edge)" not in line for line in lines)


def _replicate(fake_result, results, *, seed=1, shift_nats=0.0, warmup_fraction=None):
    """``results`` plus a run of ``seed`` at each point's best rate (2e-3), its curve
    ``shift_nats`` higher, and, with ``warmup_fraction``, that warm-up for the replicate."""
    from dataclasses import replace

    extra = []
    for result in results:
        if result.config.lr != 2e-3:
            continue
        config = replace(result.config, seed=seed,
                         **({} if warmup_fraction is None else {"warmup_fraction": warmup_fraction}))
        curve = [loss + shift_nats for loss in result.val_loss_nats]
        extra.append(fake_result(config, n_params=result.n_params, val_loss_nats=curve, final_val_loss_nats=curve[-1],
                                 val_tokens=result.val_tokens))
    return results + extra


def test_a_replicate_at_the_best_rate_is_averaged_in_and_can_be_read_alone(fake_result, tmp_path):
    from scalinglab.results import load_table
    from scalinglab.transfer import describe_transfer_scans, transfer_by_size, transfer_seeds

    results = transfer_store_results(fake_result)
    # A replicate 0.1 nats worse: averaged into 2e-3's runs it would make 4e-3 (0.03 worse than seed 0)
    # the best; judged on the seed every rate has, 2e-3 stays the best, and its loss is the mean.
    table = load_table(_store(tmp_path / "transfer", _replicate(fake_result, results, shift_nats=0.1)))
    assert transfer_seeds(table) == (0, 1)
    single = transfer_by_size(load_table(_store(tmp_path / "single", results)))
    both, first, second = transfer_by_size(table), transfer_by_size(table, seed=0), transfer_by_size(table, seed=1)
    for n in single:
        assert np.all(both[n].fine_tuned_lr == 2e-3) and np.all(both[n].fine_tuned_n_seeds == 2)
        assert np.all(both[n].scratch_n_seeds == 2) and np.all(first[n].fine_tuned_n_seeds == 1)
        np.testing.assert_allclose(both[n].fine_tuned_loss_nats, single[n].fine_tuned_loss_nats + 0.05)
        np.testing.assert_allclose(first[n].transferred_tokens, single[n].transferred_tokens)
        np.testing.assert_allclose(second[n].fine_tuned_loss_nats, single[n].fine_tuned_loss_nats + 0.1)
    with pytest.raises(ValueError, match=r"^seed must be one of the table's seeds \(0, 1\)"):
        transfer_by_size(table, seed=2)
    lines = describe_transfer_scans(table).splitlines()
    assert len(lines) == 27 and all(line.endswith("best 0.002, 2 seeds") for line in lines)
    assert lines[0].startswith("d_model  32  N =  24,576")


def test_each_point_is_judged_against_its_own_runs_warm_up(fake_result, tmp_path):
    from scalinglab.results import load_table
    from scalinglab.transfer import transfer_by_size, transfer_law_points

    # the replicate's warm-up is 60% of its run, longer than where every best came (10%)
    results = _replicate(fake_result, transfer_store_results(fake_result), warmup_fraction=0.6)
    table = load_table(_store(tmp_path / "transfer", results))
    late = transfer_by_size(table, seed=1)
    assert all(np.all(size.fine_tuned_warmup_fraction == 0.6) for size in late.values())
    assert transfer_law_points(late).in_warmup == 12
    early = transfer_by_size(table, seed=0)
    assert transfer_law_points(early).in_warmup == 0
