"""Tests of the budgeted scaling study (scalinglab.lab): the family a lab may train, the
budget it refuses to overspend, the ledger that is its store, the replay of runs already
made, and the truth and score of a prediction."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.corpora import CorpusConfig
from scalinglab.lab import MIN_RUN_FLOPS, Lab, LabFamily, Optimum, score, truth_at
from scalinglab.results import load_table
from scalinglab.runs import GPTConfig, TrainConfig, run_record
from scalinglab.store import ResultsStore

PROVENANCE = {"device": "cpu", "device_name": "test", "date": "2026-01-01T00:00:00+00:00",
              "scalinglab_version": "0.1.0", "torch_version": "2.3.0", "git_commit": "abc123"}
CORPUS = CorpusConfig(kind="zipf", n_tokens=400_000)


def _config(d_model, flops, lr=3e-3, **changes):
    model = GPTConfig(n_layer=1, n_head=2, d_model=d_model, n_ctx=16)
    settings = {"batch_size": 8, "n_evals": 2, "eval_tokens": 2048, "evaluation_probes": (), **changes}
    return TrainConfig(model=model, corpus=CORPUS, flops=flops, lr=lr, **settings)


def _store(tmp_path, fake_result, profiles):
    """A recorded IsoFLOP store: ``profiles`` maps a budget to {d_model: loss}."""
    store = ResultsStore(tmp_path / "isoflop", create=True)
    for flops, losses in profiles.items():
        for d_model, loss in losses.items():
            config = _config(d_model, flops, lr=1e-2 / d_model)
            store.put(run_record(fake_result(config, loss=loss, n_params=12 * d_model**2), PROVENANCE))
    return load_table(tmp_path / "isoflop")


def test_the_family_is_what_the_recorded_runs_share(tmp_path, fake_result):
    table = _store(tmp_path, fake_result, {1e12: {8: 2.0, 16: 1.8, 32: 1.9}, 3e12: {16: 1.7, 32: 1.6, 64: 1.65}})
    family = LabFamily.from_table(table)
    assert family.widths == (8, 16, 32, 64) and family.heads_and_lrs[16] == (2, pytest.approx(1e-2 / 16))
    config = family.config(32, 5e9)
    assert config.model.d_model == 32 and config.flops == 5e9 and config.lr == pytest.approx(1e-2 / 32)
    assert config.corpus == CORPUS and config.batch_size == 8
    with pytest.raises(ValueError, match=r"^d_model must be one of the family's widths \[8, 16, 32, 64\]"):
        family.config(24, 5e9)
    with pytest.raises(ValueError, match="^flops must be at least"):
        family.config(16, MIN_RUN_FLOPS / 2)
    store = ResultsStore(tmp_path / "isoflop")
    store.put(run_record(fake_result(_config(8, 1e12, lr=1e-2 / 8, batch_size=16), loss=2.0), PROVENANCE))
    with pytest.raises(ValueError, match="must differ only in d_model, n_head, lr and flops"):
        LabFamily.from_table(load_table(tmp_path / "isoflop"))


def test_the_truth_is_the_vertex_around_the_least_loss(tmp_path, fake_result):
    # loss = 1 + 0.1 (ln N - ln N*)^2 with N* at 12 * 20^2 parameters: the vertex of three points is exact
    widths = (8, 16, 24, 32, 64)
    n_star = np.log(12 * 20**2)
    losses = {d: 1 + 0.1 * (np.log(12 * d**2) - n_star) ** 2 for d in widths}
    table = _store(tmp_path, fake_result, {1e12: losses, 3e11: {8: 1.0, 16: 1.2, 32: 1.4}})
    truth = truth_at(table, 1e12)
    assert truth.n_params == pytest.approx(12 * 20**2, rel=1e-6) and truth.loss_nats == pytest.approx(1.0)
    with pytest.raises(ValueError, match="least loss at its edge"):
        truth_at(table, 3e11)
    with pytest.raises(ValueError, match="^target_flops: the table has 0 runs"):
        truth_at(table, 1e13)


def test_a_score_is_100_for_an_exact_prediction_and_falls_with_each_error():
    truth = Optimum(1e12, 4e4, 0.75)
    assert score(Optimum(1e12, 4e4, 0.75), truth).points == pytest.approx(100.0)
    off = score(Optimum(1e12, 8e4, 0.75), truth)
    assert off.size_factor == pytest.approx(2.0) and off.points == pytest.approx(100 * np.exp(-np.log10(2) / 0.3))
    both = score(Optimum(1e12, 8e4, 0.80), truth)
    assert both.loss_error_nats == pytest.approx(0.05) and both.points < off.points
    with pytest.raises(ValueError, match="^prediction: made for"):
        score(Optimum(1e11, 4e4, 0.75), truth)


def test_a_lab_charges_each_run_once_refuses_to_overspend_and_survives_a_restart(tmp_path, fake_result, monkeypatch):
    family = LabFamily(_config(8, 1e12), {8: (2, 3e-3), 16: (2, 2e-3)})
    lab = Lab(tmp_path / "lab", budget_flops=2.5e9, family=family)
    first = lab.train(8, 1e9)
    assert lab.spent_flops == 1e9 and lab.left_flops == pytest.approx(1.5e9) and np.isfinite(first.final_val_loss_nats)

    def no_training(config):
        raise AssertionError("a replayed run must not be trained")

    monkeypatch.setattr("scalinglab.lab.train", no_training)
    again = lab.train(8, 1e9)  # replayed from the store: no training, no charge
    assert again == first and lab.spent_flops == 1e9
    with pytest.raises(ValueError, match=r"^flops: a run of 2e\+09 FLOPs would overspend the budget: 1\.5e\+09"):
        lab.train(16, 2e9)
    assert len(lab.store) == 1  # nothing was trained for the refused run
    with pytest.raises(ValueError, match="^d_model must be one of"):
        lab.train(12, 1e9)
    restarted = Lab(tmp_path / "lab", budget_flops=2.5e9, family=family)
    assert restarted.spent_flops == 1e9 and [e.d_model for e in restarted.ledger()] == [8]
    assert "spent 1e+09 of 2.5e+09 FLOPs; 1.5e+09 left" in restarted.describe()
    assert len(restarted.table()) == 1
    with pytest.raises(ValueError, match="^budget_flops: the store .* already holds runs of 1e\\+09 FLOPs"):
        Lab(tmp_path / "lab", budget_flops=5e8, family=family)


def test_a_lab_that_spent_exactly_its_budget_opens_again_and_refuses_a_foreign_store(tmp_path, fake_result):
    family = LabFamily(_config(8, 1e12), {8: (2, 3e-3), 16: (2, 2e-3)})
    store = ResultsStore(tmp_path / "lab", create=True)
    budget, first = 3254744263.2804008, 1021636509.8550241  # first + (budget - first) > budget, by one ulp
    for flops in (first, budget - first):  # a run, then one of what was left
        store.put(run_record(fake_result(family.config(8 if flops == first else 16, flops), loss=2.0), PROVENANCE))
    assert first + (budget - first) > budget
    lab = Lab(tmp_path / "lab", budget_flops=budget, family=family)
    assert lab.left_flops == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(ValueError, match="^flops: a run of 1e\\+09 FLOPs would overspend"):
        lab.train(16, 1e9)
    foreign = ResultsStore(tmp_path / "foreign", create=True)
    foreign.put(run_record(fake_result(_config(8, 1e9, lr=5e-3), loss=2.0), PROVENANCE))  # another lr
    with pytest.raises(ValueError, match="^store_path: run .* is not a run of the lab's family"):
        Lab(tmp_path / "foreign", budget_flops=1e10, family=family)
