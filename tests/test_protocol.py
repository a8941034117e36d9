"""Tests of scalinglab.protocol and of grids that take their learning rates from a scan
(``[protocol] lr_from``): the best lr per model, refused at the edge of a scan, the
convergence slope, and where each IsoFLOP budget's minimum sits among its sizes."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.corpora import CorpusConfig
from scalinglab.protocol import (
    CONVERGED_SLOPE,
    chosen_learning_rate,
    convergence_slope,
    data_slope,
    is_converged,
    LearningRateScan,
    at_best_learning_rate,
    isoflop_coverage,
    learning_rate_scan,
    run_convergence_slope,
    scan_key,
)
from scalinglab.results import load_table
from scalinglab.runs import GPTConfig, TrainConfig, run_record
from scalinglab.store import ResultsStore
from scalinglab.sweep import expand_grid

CORPUS = CorpusConfig(kind="zipf", n_tokens=60_000, n_rules=8)
PROVENANCE = {"device": "cpu", "device_name": "test", "date": "2026-01-01T00:00:00+00:00",
              "scalinglab_version": "0.1.0", "torch_version": "2.3.0", "git_commit": "abc123"}
LRS = (1.5e-3, 3e-3, 6e-3, 1.2e-2, 2.4e-2)


def model(d_model: int) -> GPTConfig:
    return GPTConfig(n_layer=2, n_head=2, d_model=d_model, n_ctx=64)


def scan_store(tmp_path, fake_result, best: dict[int, float], seeds=(0,)):
    """A scan store: each width at LRS, the loss a parabola in log lr with its bottom at best[width]."""
    store = ResultsStore(tmp_path / "scan", create=True)
    for d_model, best_lr in best.items():
        for lr in LRS:
            for seed in seeds:
                config = TrainConfig(model=model(d_model), corpus=CORPUS, tokens=4096, batch_size=32, lr=lr, seed=seed)
                loss = 1.0 + 0.1 * np.log(lr / best_lr) ** 2 + 0.001 * seed
                store.put(run_record(fake_result(config, loss=float(loss)), PROVENANCE))
    return tmp_path / "scan"


def test_the_scan_keeps_each_models_lr_of_least_loss(tmp_path, fake_result):
    scans = learning_rate_scan(load_table(scan_store(tmp_path, fake_result, {16: 1.2e-2, 64: 3e-3}, seeds=(0, 1))))
    assert len(scans) == 2
    by_width = {scan.key[0].d_model: scan for scan in scans.values()}
    assert by_width[16].best_lr == 1.2e-2 and by_width[64].best_lr == 3e-3
    assert by_width[16].lrs == LRS and all(scan.interior for scan in scans.values())
    assert by_width[64].losses_nats[1] == pytest.approx(1.0005)  # the mean over the two seeds
    assert chosen_learning_rate(scans, (model(64), 32, CORPUS)) == 3e-3


def test_the_ladder_at_the_best_rates_keeps_every_seed_of_each_scans_best(tmp_path, fake_result):
    table = load_table(scan_store(tmp_path, fake_result, {16: 1.2e-2, 64: 3e-3}, seeds=(0, 1)))
    ladder = at_best_learning_rate(table)
    assert len(ladder) == 4  # two widths, two seeds each
    assert {(run.result.config.model.d_model, run.result.config.lr) for run in ladder} == {(16, 1.2e-2), (64, 3e-3)}
    assert sorted(ladder.column("config.seed")) == [0, 0, 1, 1]


def test_a_diverged_run_is_never_the_best_of_its_scan():
    nan = float("nan")
    scan = LearningRateScan(key=("m",), lrs=(1e-3, 2e-3, 4e-3), losses_nats=(nan, 1.2, 1.5))
    assert scan.best_lr == 2e-3 and scan.best_loss_nats == 1.2 and scan.interior
    diverged_above = LearningRateScan(key=("m",), lrs=(1e-3, 2e-3, 4e-3), losses_nats=(1.4, float("inf"), nan))
    assert diverged_above.best_lr == 1e-3 and not diverged_above.interior


def test_a_best_lr_at_the_edge_of_the_scan_is_refused(tmp_path, fake_result):
    scans = learning_rate_scan(load_table(scan_store(tmp_path, fake_result, {16: 5e-2})))
    (scan,) = scans.values()
    assert scan.best_lr == 2.4e-2 and not scan.interior
    with pytest.raises(ValueError, match="at the edge of the values scanned.*extend the scan"):
        chosen_learning_rate(scans, (model(16), 32, CORPUS))
    with pytest.raises(ValueError, match="has no runs for"):
        chosen_learning_rate(scans, (model(24), 32, CORPUS))
    assert scan_key((model(24), 32, CORPUS)) not in scans


def test_a_scan_can_judge_each_run_by_its_early_stopped_loss(tmp_path, fake_result):
    # the highest lr reaches the least loss midway and then overfits: last by its final loss,
    # best by its early-stopped one
    store = ResultsStore(tmp_path / "scan", create=True)
    for lr, curve in ((1e-3, [2.0, 1.5, 1.4]), (2e-3, [2.0, 1.4, 1.3]), (4e-3, [2.0, 1.2, 1.6])):
        config = TrainConfig(model=model(16), corpus=CORPUS, tokens=4096, batch_size=32, lr=lr)
        store.put(run_record(fake_result(config, val_loss_nats=curve, final_val_loss_nats=curve[-1]), PROVENANCE))
    table = load_table(tmp_path / "scan")
    (final,) = learning_rate_scan(table).values()
    (early,) = learning_rate_scan(table, loss="result.best_val_loss_nats").values()
    assert final.best_lr == 2e-3 and final.interior
    assert early.best_lr == 4e-3 and not early.interior and early.losses_nats == (1.4, 1.3, 1.2)
    with pytest.raises(ValueError, match="^loss must be a result column"):
        learning_rate_scan(table, loss="config.lr")


def grid(lr_from: str | None = "scan", **base):
    spec = {
        "base": {"tokens": 4096, "batch_size": 32, "model": {"n_layer": 2, "n_head": 2, "n_ctx": 64},
                 "corpus": {"kind": "zipf", "n_tokens": 60_000, "n_rules": 8}, **base},
        "axes": {"model": [{"d_model": 16}, {"d_model": 64}], "seed": [0, 1]},
    }
    if lr_from is not None:
        spec["protocol"] = {"lr_from": lr_from}
    return spec


def test_a_grid_takes_each_models_lr_from_the_scan(tmp_path, fake_result):
    scan_store(tmp_path, fake_result, {16: 1.2e-2, 64: 3e-3})
    configs = expand_grid(grid(), base_dir=tmp_path)
    assert [(c.model.d_model, c.seed, c.lr) for c in configs] == [(16, 0, 1.2e-2), (16, 1, 1.2e-2), (64, 0, 3e-3), (64, 1, 3e-3)]


def test_a_grid_with_lr_from_rejects_its_own_lr_a_missing_store_and_unknown_keys(tmp_path, fake_result):
    scan_store(tmp_path, fake_result, {16: 1.2e-2, 64: 3e-3})
    with pytest.raises(ValueError, match="must not set lr itself"):
        expand_grid(grid(lr=1e-3), base_dir=tmp_path)
    with pytest.raises(ValueError, match="is not a results store"):
        expand_grid(grid("absent"), base_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown protocol key 'lr'"):
        expand_grid({**grid(), "protocol": {"lr": "scan"}}, base_dir=tmp_path)
    with pytest.raises(ValueError, match="has no runs for"):  # batch 16 was never scanned
        expand_grid(grid(batch_size=16), base_dir=tmp_path)
    assert len(expand_grid(grid(None))) == 4  # no protocol: the grid as written


def test_convergence_slope_is_the_log_log_slope_over_the_last_quarter():
    tokens = np.geomspace(1e4, 1e7, 16)
    still_falling = 0.5 + 0 * tokens + 10 * tokens**-0.3  # on its power law: slope well below 0
    flat = 0.5 + 1e-6 * tokens**-0.01
    power = tokens**-0.2
    assert convergence_slope(tokens, power) == pytest.approx(-0.2)
    assert convergence_slope(tokens, flat) == pytest.approx(0, abs=1e-6) and is_converged(convergence_slope(tokens, flat))
    assert convergence_slope(tokens, still_falling) < CONVERGED_SLOPE
    # only the evaluations in the last quarter of tokens count
    linear = np.linspace(1e6, 1e7, 16)
    kinked = np.where(linear < 0.75 * linear[-1], 3 * linear**-0.5, linear**-0.2)
    assert convergence_slope(linear, kinked) == pytest.approx(-0.2)
    assert convergence_slope(tokens, power, last_fraction=1e-3) == pytest.approx(-0.2)  # at least the last two
    for bad in ((tokens, power[:-1]), (tokens[:1], power[:1]), (-tokens, power)):
        with pytest.raises(ValueError):
            convergence_slope(*bad)
    with pytest.raises(ValueError, match="last_fraction"):
        convergence_slope(tokens, power, last_fraction=0)


def test_the_data_slope_compares_two_runs_of_one_model():
    assert data_slope(4e6, 1.0, 8e6, 0.5) == pytest.approx(-1.0)
    assert data_slope(4e6, 1.2, 16e6, 1.2) == 0 and is_converged(data_slope(4e6, 1.208, 8e6, 1.197))
    assert not is_converged(data_slope(4e6, 1.072, 16e6, 1.007))  # 6% lower with 4x the data
    with pytest.raises(ValueError, match="tokens_long must exceed tokens_short"):
        data_slope(8e6, 1.0, 4e6, 0.9)
    with pytest.raises(ValueError, match="loss_short_nats must be a positive finite number"):
        data_slope(4e6, -1.0, 8e6, 0.9)


def test_run_convergence_slope_reads_a_runs_validation_curve(fake_result):
    tokens = np.linspace(1e6, 8e6, 8)
    config = TrainConfig(model=model(16), corpus=CORPUS, tokens=8_000_000, n_evals=8)
    result = fake_result(config, val_tokens=[int(t) for t in tokens], val_loss_nats=list(2 * tokens**-0.1))
    assert run_convergence_slope(result) == pytest.approx(-0.1)


def test_isoflop_coverage_counts_sizes_on_each_side_of_each_minimum():
    flops = [1e12] * 5 + [1e13 * 1.001] * 4 + [1e13] * 1
    n_params = [1, 2, 3, 4, 5, 1, 2, 3, 4, 4]
    losses = [5, 4, 3, 4, 5, 9, 8, 7, 7.5, 6.0]  # the second budget: size 4's two seeds average 6.75
    first, second = isoflop_coverage(flops, n_params, losses)
    assert (first.flops, first.n_params, first.below, first.above, first.interior) == (1e12, (1, 2, 3, 4, 5), 2, 2, True)
    assert (second.n_params, second.best_index, second.below, second.above, second.interior) == ((1, 2, 3, 4), 3, 3, 0, False)
    with pytest.raises(ValueError):
        isoflop_coverage([1e12], [1, 2], [3.0])


def test_describe_scans_gives_each_model_its_losses_and_best_lr(tmp_path, fake_result):
    from scalinglab.protocol import describe_scans

    corpus = CorpusConfig(kind="zipf", n_tokens=100_000)
    store = ResultsStore(tmp_path / "scan", create=True)
    for d, losses in ((32, (2.0, 1.8, 1.9)), (64, (1.7, 1.6, 1.5))):
        model = GPTConfig(n_layer=2, n_head=4, d_model=d, n_ctx=64)
        for lr, loss in zip((1e-3, 2e-3, 4e-3), losses):
            config = TrainConfig(model=model, corpus=corpus, tokens=10_000, lr=lr)
            store.put(run_record(fake_result(config, n_params=12 * 2 * d * d, loss=loss), PROVENANCE))
    lines = describe_scans(load_table(tmp_path / "scan")).splitlines()
    assert len(lines) == 2 and lines[0].startswith("zipf         gpt  width  32  N =    24,576")
    assert "0.002: 1.800" in lines[0] and lines[0].endswith("best 0.002")
    assert lines[1].endswith("best 0.004  (at the edge of the scan)")


def test_a_scan_matches_a_run_on_a_larger_corpus_of_the_same_kind_and_settings(tmp_path, fake_result):
    from scalinglab.protocol import chosen_learning_rate, learning_rate_scan

    store = ResultsStore(tmp_path / "scan", create=True)
    model = GPTConfig(n_layer=2, n_head=4, d_model=32, n_ctx=64)
    small = CorpusConfig(kind="zipf", n_tokens=100_000)
    for lr, loss in zip((1e-3, 2e-3, 4e-3), (2.0, 1.8, 1.9)):
        config = TrainConfig(model=model, corpus=small, tokens=10_000, lr=lr)
        store.put(run_record(fake_result(config, n_params=24_576, loss=loss), PROVENANCE))
    scans = learning_rate_scan(load_table(tmp_path / "scan"))
    batch = config.batch_size
    assert chosen_learning_rate(scans, (model, batch, small.replace(n_tokens=5_000_000))) == 2e-3
    with pytest.raises(ValueError):  # another setting is another corpus
        chosen_learning_rate(scans, (model, batch, small.replace(n_rules=10)))
    # A scan of the same model on a second size is its own scan, and then the size matters.
    for lr, loss in zip((1e-3, 2e-3, 4e-3), (2.0, 1.9, 1.8)):
        config = TrainConfig(model=model, corpus=small.replace(n_tokens=200_000), tokens=10_000, lr=lr)
        store.put(run_record(fake_result(config, n_params=24_576, loss=loss), PROVENANCE))
    scans = learning_rate_scan(load_table(tmp_path / "scan"))
    assert len(scans) == 2 and chosen_learning_rate(scans, (model, batch, small)) == 2e-3
    with pytest.raises(ValueError, match="2 learning-rate scans match"):
        chosen_learning_rate(scans, (model, batch, small.replace(n_tokens=5_000_000)))
