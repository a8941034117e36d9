"""Tests of scalinglab.emergence (baselines, the extrapolation test) and scalinglab.repetition
(a repetition store read size by size, the data-constrained fit), and of their two claims
on synthetic stores whose numbers follow a known law."""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np
import pytest

from scalinglab import limits
from scalinglab.corpora import CorpusConfig
from scalinglab.corpora.skills import FACT_EXPONENT, addition_problems, fact_probabilities, fact_table
from scalinglab.emergence import (
    blind_answer_loss,
    extrapolate_error,
    fact_baselines,
    metric_error,
    sum_baselines,
    sum_distribution,
)
from scalinglab.report import CLAIMS, rows, verdict
from scalinglab.repetition import fit_repetition, fresh_equivalent_tokens, repetition_runs
from scalinglab.results import load_table
from scalinglab.runs import GPTConfig, TrainConfig, run_record
from scalinglab.store import ResultsStore
from scalinglab.tasks import digit_accuracy

PROVENANCE = {"device": "cpu", "device_name": "test", "date": "2026-01-01T00:00:00+00:00",
              "scalinglab_version": "0.1.0", "torch_version": "2.3.0", "git_commit": "abc123"}


def _write(path, results):
    store = ResultsStore(path, create=True)
    for result in results:
        store.put(run_record(result, PROVENANCE))
    return path


# ------------------------------------------------------------------ baselines


def test_the_sum_distribution_is_triangular_and_sums_to_one():
    p = sum_distribution(2)
    assert min(p) == 20 and max(p) == 198 and math.isclose(sum(p.values()), 1.0)
    assert max(p, key=p.get) == 109 and p[109] == pytest.approx(90 / 90**2)  # 90 pairs of two-digit operands
    assert p[20] == p[198] == pytest.approx(1 / 90**2)


def test_the_baselines_are_what_a_question_blind_model_scores():
    """Asked every pair once (so that the sums follow P(s) exactly), no constant answer
    beats the baselines' and no model blind to the operands beats their loss."""
    problems = [(a, b) for a in range(10, 100) for b in range(10, 100)]
    answers = [str(a + b) for a, b in problems]
    base = sum_baselines(2, problems)
    assert base["exact_match"] == pytest.approx(90 / 8100)  # the most probable sum, 109
    others = [f"{x:03d}" for x in range(0, 1000, 7)] + ["09", "8"]
    assert all(digit_accuracy([other] * len(answers), answers) <= base["digit_accuracy"] + 1e-12 for other in others)
    # answer loss: the entropy of the sums (per token, newline included), below a uniform guess
    entropy = -sum(p * math.log(p) for p in sum_distribution(2).values())
    tokens = sum(len(answer) + 1 for answer in answers)
    assert base["answer_loss_nats"] == pytest.approx(entropy * len(answers) / tokens)
    assert 0 < base["answer_loss_nats"] < math.log(11)
    held_out = addition_problems(500, n_digits=2, held_out=True, seed=0, rng_seed=1)
    assert sum_baselines(2, held_out)["digit_accuracy"] == pytest.approx(base["digit_accuracy"], abs=0.03)
    with pytest.raises(ValueError, match="^problems"):
        sum_baselines(2, [])


def test_the_fact_baseline_answers_the_most_common_attribute():
    facts = fact_table(50, seed=0)
    counts = Counter(fact.attribute for fact in facts)
    assert fact_baselines(facts, np.ones(50))["exact_match"] == pytest.approx(max(counts.values()) / 50)
    # with Zipf frequencies the most frequent fact's attribute is the blind answer
    skewed = fact_baselines(facts, fact_probabilities(50, FACT_EXPONENT))
    assert skewed["exact_match"] == pytest.approx(counts[facts[0].attribute] / 50)
    with pytest.raises(ValueError, match="^facts and probabilities"):
        fact_baselines(facts, np.ones(3))
    with pytest.raises(ValueError, match="^answers must all have a probability"):
        blind_answer_loss(["12"], {"13": 1.0})


# ------------------------------------------------------------------ extrapolation


def test_an_error_on_a_power_law_is_predicted_and_a_jump_is_not():
    n = np.repeat([1e3, 3e3, 1e4, 3e4, 1e5], 3)
    rng = np.random.default_rng(0)
    smooth = 2.0 * n**-0.3 * np.exp(rng.normal(0, 0.02, n.size))
    found = extrapolate_error(n, smooth, target_n_params=1e5, n_bootstrap=200)
    assert found.gamma == pytest.approx(0.3, abs=0.05) and list(found.fitted_n_params) == [1e3, 3e3, 1e4, 3e4]
    assert found.ratio_interval[0] <= 1.0 <= found.ratio_interval[1] and found.ratio == pytest.approx(1, abs=0.1)
    jump = smooth.copy()
    jump[n == 1e5] *= 0.2  # the largest size does five times better than the trend
    found = extrapolate_error(n, jump, target_n_params=1e5, n_bootstrap=200)
    assert found.ratio_interval[1] < 0.5


def test_the_extrapolation_names_bad_input():
    n = np.array([1e3, 1e4, 1e5])
    with pytest.raises(ValueError, match="^n_params must hold at least two sizes"):
        extrapolate_error(n, [0.5, 0.4, 0.3], target_n_params=1e4)
    with pytest.raises(ValueError, match="^n_params must hold runs at target"):
        extrapolate_error(n, [0.5, 0.4, 0.3], target_n_params=1e6)
    with pytest.raises(ValueError, match="^errors must be finite"):
        extrapolate_error(n, [0.5, -0.4, 0.3], target_n_params=1e5)
    with pytest.raises(ValueError, match="^errors must be above 0"):
        extrapolate_error(n, [0.5, 0.0, 0.3], target_n_params=1e5)
    with pytest.raises(ValueError, match="^metric must be one of"):
        metric_error("accuracy", [0.5])
    assert metric_error("exact_match", [0.25]).tolist() == [0.75]


def skills_results(fake_result, *, jump=1.0, seeds=(0, 1, 2)):
    """Eight widths, each seed a run, whose answer loss and digit error follow power laws
    in N (the largest size's divided by ``jump``), with exact match p^2.5."""
    rng, results = np.random.default_rng(4), []
    corpus = CorpusConfig(kind="skills", n_tokens=6_000_000, n_digits=2, n_facts=1000, text_fraction=0.25)
    widths = (12, 16, 24, 32, 48, 64, 96, 128)
    for d in widths:
        for seed in seeds:
            n = 24 * d**2
            scale = jump if d == widths[-1] else 1.0
            loss = 20 * n**-0.3 / scale * np.exp(rng.normal(0, 0.02))
            p = 1 - 5 * n**-0.25 / scale
            sums = {"exact_match": p**2.5, "digit_accuracy": p, "answer_loss_nats": loss}
            config = TrainConfig(model=GPTConfig(n_layer=2, n_head=2, d_model=d, n_ctx=64), corpus=corpus,
                                 tokens=4_000_000, seed=seed, probes=("skills",))
            results.append(fake_result(config, n_params=n, probes={"skills": {"addition": sums, "facts": {}}}))
    return results


def test_the_emergence_claim_reproduces_on_a_smooth_ladder_and_not_on_a_jump(fake_result, tmp_path):
    claim = [CLAIMS["emergence_metric_extrapolation"]]
    _write(tmp_path / "smooth" / "emergence_ladder", skills_results(fake_result))
    row = rows(tmp_path / "smooth", claims=claim)[0]
    assert row["reproduces"] is True and row["low"] <= 1 <= row["high"]
    assert "1 - exact match" in row["note"] and "3 seeds a size" in row["note"]
    _write(tmp_path / "jump" / "emergence_ladder", skills_results(fake_result, jump=3.0))
    row = rows(tmp_path / "jump", claims=claim)[0]
    assert row["reproduces"] is False and row["high"] < 0.5
    _write(tmp_path / "one" / "emergence_ladder", skills_results(fake_result, seeds=(0,)))
    row = rows(tmp_path / "one", claims=claim)[0]
    assert verdict(row) == "not recorded yet" and "needs 2" in row["note"]


# ------------------------------------------------------------------ repetition


def repetition_results(fake_result, *, r_star=15.4, widths=(96, 128), seeds=(0, 1), noise=0.002, overfit=True):
    """For each width and seed, fresh runs of 62.5k to 4M tokens and repeated runs of 4M
    tokens over 2M to 62.5k unique tokens, whose final loss follows the data-constrained
    law with ``r_star``; with ``overfit``, the 64-epoch runs end 0.05 nats above their best."""
    rng, results = np.random.default_rng(5), []
    corpus = CorpusConfig(kind="zipf", n_rules=1000, n_tokens=56_000_000)
    budget = 4_000_000
    for d in widths:
        E, D0, beta = 0.55 + 8.0 / d**1.5, 2e4 * d / 128, 0.4
        for seed in seeds:
            runs = [(budget // 2**i, None) for i in range(7)] + [(budget, budget // 2**i) for i in range(1, 7)]
            for tokens, unique in runs:
                epochs = 1.0 if unique is None else tokens / unique
                worth = limits.effective_data((unique or tokens), epochs, r_star=r_star)
                loss = (E + (D0 / worth) ** beta) * np.exp(rng.normal(0, noise))
                curve = [loss + 1.0 / (i + 1) - 1.0 / 8 for i in range(8)]
                if overfit and epochs == 64:
                    curve[-1] = curve[-2] + 0.05
                config = TrainConfig(model=GPTConfig(n_layer=2, n_head=4, d_model=d, n_ctx=64), corpus=corpus,
                                     tokens=tokens, unique_tokens=unique, seed=seed, n_evals=8)
                results.append(fake_result(config, n_params=24 * d**2, val_loss_nats=curve,
                                           final_val_loss_nats=curve[-1]))
    return results


def test_a_repetition_store_reads_size_by_size(fake_result, tmp_path):
    table = load_table(_write(tmp_path / "store", repetition_results(fake_result)))
    sizes = repetition_runs(table)
    assert list(sizes) == [24 * 96**2, 24 * 128**2]
    runs = sizes[24 * 128**2]
    assert runs.d_model == 128 and runs.fresh.sum() == 14 and (~runs.fresh).sum() == 12
    assert np.all(runs.epochs[runs.fresh] == 1) and sorted(set(runs.epochs[~runs.fresh])) == [2, 4, 8, 16, 32, 64]
    assert np.all(runs.unique_tokens * runs.epochs == runs.tokens)
    assert runs.still_improving().sum() == 24 and not runs.still_improving()[runs.epochs == 64].any()
    repeated = runs.select(~runs.fresh)
    assert repeated.epochs.size == 12 and repeated.n_params == runs.n_params and not repeated.fresh.any()
    with pytest.raises(ValueError, match="^keep must be a mask of the 26 runs"):
        runs.select(np.ones(3, dtype=bool))


def test_the_fit_of_fresh_and_repeated_runs_recovers_r_star(fake_result, tmp_path):
    table = load_table(_write(tmp_path / "store", repetition_results(fake_result, noise=0.0005)))
    runs = repetition_runs(table)[24 * 128**2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = fit_repetition(runs, n_bootstrap=50)
        everything = fit_repetition(runs, only_improving=False)
    assert fit.converged and fit.n_points == 24 and fit.r_star == pytest.approx(15.4, rel=0.15)
    assert fit.intervals["r_star"][0] <= 15.4 <= fit.intervals["r_star"][1]
    assert everything.n_points == 26 and everything.r_star < fit.r_star  # overfitting drags R* down
    with pytest.raises(ValueError, match="^loss must be one of"):
        fit_repetition(runs, loss="last")


def test_what_a_repeated_run_was_worth_is_read_off_the_fresh_runs(fake_result, tmp_path):
    table = load_table(_write(tmp_path / "store", repetition_results(fake_result, noise=0.0, seeds=(0,), overfit=False)))
    runs = repetition_runs(table)[24 * 128**2]
    worth = fresh_equivalent_tokens(runs)
    np.testing.assert_allclose(worth[runs.fresh], runs.tokens[runs.fresh], rtol=1e-9)  # a fresh run is worth itself
    repeated = ~runs.fresh & np.isfinite(worth)
    truth = limits.effective_data(runs.unique_tokens, runs.epochs, r_star=15.4)
    assert repeated.sum() >= 4
    np.testing.assert_allclose(worth[repeated], truth[repeated], rtol=0.1)  # interpolation between budgets a factor 2 apart
    assert np.all(worth[repeated] <= runs.tokens[repeated])  # never worth more than fresh data
    with pytest.raises(ValueError, match="^runs must hold fresh runs at two budgets"):
        fresh_equivalent_tokens(runs.select(~runs.fresh))


def test_the_repetition_claim_follows_the_r_star_of_the_runs(fake_result, tmp_path):
    claim = [CLAIMS["repetition_r_star"]]
    _write(tmp_path / "muennighoff" / "repetition_zipf_1k", repetition_results(fake_result, noise=0.0005))
    row = rows(tmp_path / "muennighoff", claims=claim)[0]
    # the count is the largest size's own (the fit's runs), not the two sizes' together
    assert row["reproduces"] is True and "2 of its runs that overfit left out" in row["note"]
    assert "N = 221,184" in row["note"]
    _write(tmp_path / "short" / "repetition_zipf_1k", repetition_results(fake_result, r_star=2.0, noise=0.0005))
    row = rows(tmp_path / "short", claims=claim)[0]
    assert row["reproduces"] is False and row["high"] < 15.4
