"""Tests of the comparison of ladders (scalinglab.ladders), of the window-by-window loss along
the context (scalinglab.icl's ContextWindows and its bootstrap over documents), of the
"context_windows" probe's placement of windows, and of the claims the report measures with them."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.corpora import CorpusConfig
from scalinglab.icl import (
    ContextWindows,
    FewShotOutcomes,
    binomial_interval,
    context_gain,
    context_plateau,
    document_resample_weights,
    few_shot_slopes,
    log_bins,
    plateau_interval,
    plateau_positions,
    position_power_law,
)
from scalinglab.ladders import (
    best_runs,
    FactorBound,
    factor_bound,
    ladder_windows,
    matched_size,
    parameter_factor,
    parameter_factor_interval,
    tokens_to_loss_slope,
)
from scalinglab.probes.context_windows import inside_document_starts
from scalinglab.report import CLAIMS, Measurement, Rule, rows
from scalinglab.results import load_table
from scalinglab.runs import GPTConfig, LSTMConfig, TrainConfig, run_record
from scalinglab.store import ResultsStore

N_CTX = 512
FIRSTS, LASTS = log_bins(N_CTX, 24)
CENTRES = np.sqrt(FIRSTS * LASTS)
DOCUMENTS = np.repeat(np.arange(128), 4)


def _windows(curve, *, noise=0.3, document_noise=0.02, seed=0):
    """512 windows of 128 documents whose binned loss is ``curve`` plus per-position noise
    (averaging down over a bin's positions) and a per-document offset."""
    rng = np.random.default_rng(seed)
    per_bin = rng.normal(0, noise, (len(DOCUMENTS), len(FIRSTS))) / np.sqrt(LASTS - FIRSTS + 1)
    per_document = rng.normal(0, document_noise, 128)[DOCUMENTS][:, None]
    return ContextWindows(FIRSTS, LASTS, np.asarray(curve)[None, :] + per_bin + per_document, DOCUMENTS)


def _centred(curve):
    """``curve`` less its mean over positions (bins weighted by their widths): a window's loss."""
    widths = LASTS - FIRSTS + 1
    return curve - curve @ widths / widths.sum()


def _power_curve(E=1.5, t0=3.0, alpha=0.6):
    return E + (t0 / CENTRES) ** alpha


def _flat_after(position, E=1.5, t0=3.0, alpha=0.6):
    return np.where(CENTRES < position, _power_curve(E, t0, alpha), E + (t0 / position) ** alpha)


# ---------------------------------------------------------------------------
# Along the context, window by window


def test_the_document_bootstrap_keeps_each_documents_windows_together():
    weights = document_resample_weights(DOCUMENTS, 50, seed=3)
    assert weights.shape == (50, len(DOCUMENTS))
    per_document = weights.reshape(50, 128, 4)
    assert np.all(per_document == per_document[:, :, :1])  # the four windows of a document share a weight
    assert np.all(per_document[:, :, 0].sum(axis=1) == 128)  # each resample draws 128 documents
    assert np.array_equal(weights, document_resample_weights(DOCUMENTS, 50, seed=3))


def test_a_power_law_along_the_context_is_recovered_with_an_interval_that_holds_it():
    fit = position_power_law(_windows(_power_curve(), seed=1), n_bootstrap=200)  # (90% intervals: seed 0 misses)
    assert fit.converged and fit.n_points == len(FIRSTS)
    for name, truth in (("alpha", 0.6), ("E", 1.5), ("x0", 3.0)):
        low, high = fit.intervals[name]
        assert low < truth < high, name
    assert fit.intervals["alpha"][1] - fit.intervals["alpha"][0] < 0.1


def test_a_flat_curve_has_no_power_law_and_a_barely_falling_one_an_interval_that_reaches_zero():
    flat = position_power_law(_windows(np.full(len(FIRSTS), 2.0), noise=0.0, document_noise=0.0), n_bootstrap=100)
    assert flat.alpha == 0.0 and flat.x0 == 0.0 and flat.E == pytest.approx(2.0) and flat.intervals["alpha"] == (0, 0)
    assert flat.n_bootstrap == 100 and flat.n_bootstrap_dropped == 0
    noisy_flat = position_power_law(_windows(np.full(len(FIRSTS), 2.0)), first_position=100, n_bootstrap=200)
    assert noisy_flat.intervals["alpha"][0] == 0.0
    barely = position_power_law(_windows(_power_curve(t0=1e-4, alpha=0.6)), first_position=100, n_bootstrap=200)
    assert barely.intervals["alpha"][0] == 0.0  # some resamples do not fall at all
    falling = position_power_law(_windows(_power_curve(t0=100.0, alpha=1.0)), first_position=100, n_bootstrap=200)
    assert falling.intervals["alpha"][0] > 0


def test_the_power_law_can_be_fitted_over_part_of_the_context_and_needs_three_bins():
    part = position_power_law(_windows(_power_curve()), last_position=64, n_bootstrap=50)
    assert part.n_points == int(np.sum(LASTS <= 64))
    with pytest.raises(ValueError, match="at least 3 bins"):
        position_power_law(_windows(_power_curve()), first_position=300, n_bootstrap=10)
    with pytest.raises(ValueError, match="^last_position must exceed first_position"):
        position_power_law(_windows(_power_curve()), first_position=64, last_position=8)


def test_an_lstm_like_curve_plateaus_where_it_stops_falling_and_a_falling_one_does_not():
    flat = plateau_interval(_windows(_flat_after(100), noise=0.1), n_bootstrap=200)
    assert 64 <= flat.low <= flat.position <= flat.high <= 128 and not flat.still_falling
    falling = plateau_interval(_windows(_power_curve(t0=100.0, alpha=1.0), noise=0.1), n_bootstrap=200)
    assert falling.still_falling and falling.position == FIRSTS[-1]


def _plateau_one_curve(means, tolerance):
    """The rule written out for one curve: after the last bin more than ``tolerance`` above the end."""
    above = np.flatnonzero(means - means[-1] > tolerance)
    return FIRSTS[0 if len(above) == 0 else above[-1] + 1]


def test_the_vectorised_plateau_rule_applies_the_rule_to_every_row():
    rng = np.random.default_rng(5)
    curves = np.array([_flat_after(p) for p in (8, 30, 100, 300)] + [_power_curve(t0=100.0, alpha=1.0)])
    curves = curves[:, None, :] + rng.normal(0, 0.003, (5, 3, len(FIRSTS)))  # (5, 3, n_bins)
    found = plateau_positions(FIRSTS, curves, 0.02)
    assert found.shape == (5, 3)
    assert all(found[i, j] == _plateau_one_curve(curves[i, j], 0.02) for i in range(5) for j in range(3))
    assert np.all(np.diff(found[:4].mean(axis=1)) > 0)  # a later kink plateaus later
    curve = 1.5 + (3.0 / np.arange(1, N_CTX + 1)) ** 0.6
    assert plateau_positions(FIRSTS, np.array([curve[a - 1:b].mean() for a, b in zip(FIRSTS, LASTS)]), 0.05) \
        == context_plateau(curve, tolerance_nats=0.05)
    assert plateau_positions(FIRSTS, np.full(len(FIRSTS), 2.0), 0.05) == 1  # flat from the start


def test_the_gain_late_in_the_context_is_larger_for_the_curve_that_keeps_falling():
    assert context_gain(_windows(_power_curve()), 64) > context_gain(_windows(_flat_after(64)), 64) + 0.02
    with pytest.raises(ValueError, match="^position"):
        context_gain(_windows(_power_curve()), 0)


def test_windows_are_read_from_the_probes_json():
    windows = _windows(_power_curve())
    data = {"bin_firsts": FIRSTS.tolist(), "bin_lasts": LASTS.tolist(),
            "window_bin_loss_nats": windows.window_bin_loss_nats.tolist(), "window_document": DOCUMENTS.tolist()}
    again = ContextWindows.from_probe(data)
    assert np.allclose(again.binned(), windows.binned())
    widths = LASTS - FIRSTS + 1
    assert np.allclose(again.window_loss_nats, windows.window_bin_loss_nats @ widths / N_CTX)
    with pytest.raises(ValueError, match="^data must be"):
        ContextWindows.from_probe({"bin_firsts": []})


def test_the_probe_places_every_window_a_context_or_more_inside_a_long_document():
    document_starts = np.array([0, 700, 3000, 3500, 9000])  # lengths 700, 2300, 500, 5500, 1000
    starts, documents = inside_document_starts(document_starts, 10_000, 512, 400)
    ends = np.append(document_starts[1:], 10_000)
    assert set(documents.tolist()) == {1, 3}  # only documents of at least 3 * 512 + 1 tokens
    assert np.all(starts >= document_starts[documents] + 512)
    assert np.all(starts + 512 + 1 <= ends[documents])
    assert np.array_equal(starts, np.sort(starts)) and len(set(starts.tolist())) == len(starts)
    again, _ = inside_document_starts(document_starts, 10_000, 512, 400)
    assert np.array_equal(starts, again)  # a fixed seed: every run sees the same windows
    with pytest.raises(ValueError, match="no validation document holds 3 \\* n_ctx \\+ 1 = 1537 tokens"):
        inside_document_starts(np.array([0, 1000]), 2000, 512, 10)


# ---------------------------------------------------------------------------
# Ladders


def test_the_matched_size_interpolates_log_n_in_log_loss_and_refuses_to_extrapolate():
    n, loss = [1e4, 1e5, 1e6], [3.0, 2.0, 1.5]
    assert matched_size(n, loss, 2.0)[0] == pytest.approx(1e5)
    half = np.exp(np.log(3.0) + 0.5 * (np.log(2.0) - np.log(3.0)))
    assert matched_size(n, loss, half)[0] == pytest.approx(np.sqrt(1e4 * 1e5))
    assert np.all(np.isnan(matched_size(n, loss, [3.5, 1.4])))
    with pytest.raises(ValueError, match="two distinct sizes"):
        matched_size([1e4, 1e4], [3.0, 2.0], 2.5)


def test_an_lstm_ladder_shifted_by_a_factor_gives_that_factor():
    sizes = np.geomspace(2e4, 1e6, 5)
    gpt_loss = 1.0 + (2e3 / sizes) ** 0.3
    lstm_sizes = np.geomspace(2e4, 5e7, 8)
    lstm_loss = 1.0 + (2e3 * 6 / lstm_sizes) ** 0.3  # the LSTM needs 6x the parameters for any loss
    factor = parameter_factor(sizes, gpt_loss, lstm_sizes, lstm_loss)
    assert factor == pytest.approx(np.full(5, 6.0), rel=0.05)
    reversed_order = parameter_factor(sizes[::-1], gpt_loss[::-1], lstm_sizes, lstm_loss)
    assert np.array_equal(reversed_order, factor[::-1])  # one factor a size, in the order given
    with pytest.raises(ValueError, match="^target_loss_nats"):
        matched_size(lstm_sizes, lstm_loss, -1.0)


def test_the_factor_interval_pairs_the_runs_and_holds_the_true_factor():
    sizes = np.geomspace(2e4, 1e6, 5)
    lstm_sizes = np.geomspace(2e4, 5e7, 8)
    law = lambda n, k: 1.5 + (2e3 * k / n) ** 0.3 + _centred((3.0 / CENTRES) ** 0.6)
    # each run's windows: a per-document difficulty all runs share (what pairing cancels), plus noise of its own
    shared = _windows(np.zeros(len(FIRSTS)), noise=0.0, document_noise=0.05, seed=9).window_bin_loss_nats
    gpt = [_windows(law(n, 1), seed=i, document_noise=0.0) for i, n in enumerate(sizes)]
    lstm = [_windows(law(n, 6), seed=10 + i, document_noise=0.0) for i, n in enumerate(lstm_sizes)]
    gpt, lstm = ([ContextWindows(FIRSTS, LASTS, w.window_bin_loss_nats + shared, DOCUMENTS) for w in ladder]
                 for ladder in (gpt, lstm))
    found = parameter_factor_interval(sizes, gpt, lstm_sizes, lstm, n_bootstrap=100)
    # identical noise in both ladders cancels (paired), leaving the interpolation's own error:
    # log N is straight in log L only between close sizes, and these are 3x apart
    assert found.geometric_mean == pytest.approx(6.0, rel=0.05)
    assert found.mean_low <= found.geometric_mean <= found.mean_high and 0 < found.mean_high - found.mean_low < 1.0
    assert found.n_undecided == 0 and 0 <= found.n_censored < 100
    assert np.all(found.low <= found.factor) and np.all(found.factor <= found.high)
    other = ContextWindows(FIRSTS, LASTS, gpt[0].window_bin_loss_nats, DOCUMENTS[::-1])
    with pytest.raises(ValueError, match="different windows"):
        parameter_factor_interval(sizes, [other] + gpt[1:], lstm_sizes, lstm)


def test_seeds_widen_the_factor_interval_and_an_edge_loss_censors_it():
    sizes, lstm_sizes = np.geomspace(2e4, 1e6, 4), np.geomspace(2e4, 5e7, 8)
    law = lambda n, k: 1.5 + (2e3 * k / n) ** 0.3 + _centred((3.0 / CENTRES) ** 0.6)
    lstm = [_windows(law(n, 6), seed=10 + i, noise=0.0, document_noise=0.0) for i, n in enumerate(lstm_sizes)]
    one = [_windows(law(n, 1), seed=i, noise=0.0, document_noise=0.0) for i, n in enumerate(sizes)]
    # two seeds per GPT size, 0.1 nats apart around the same mean: only the seeds vary
    two = [[ContextWindows(FIRSTS, LASTS, w.window_bin_loss_nats + shift, DOCUMENTS) for shift in (-0.05, 0.05)]
           for w in one]
    alone = parameter_factor_interval(sizes, one, lstm_sizes, lstm, n_bootstrap=200)
    seeded = parameter_factor_interval(sizes, two, lstm_sizes, lstm, n_bootstrap=200)
    assert seeded.geometric_mean == pytest.approx(alone.geometric_mean, rel=1e-6)
    assert alone.mean_high - alone.mean_low < 1e-6 < seeded.mean_high - seeded.mean_low
    # a GPT whose seeds straddle the LSTM ladder's worst loss: the resamples past it count as
    # a factor of 0 (the LSTM needs less than its smallest), so the interval reaches 0
    worst_lstm = lstm[0].window_loss_nats.mean()
    edge = [[ContextWindows(FIRSTS, LASTS, np.full_like(w.window_bin_loss_nats, worst_lstm + shift), DOCUMENTS)
             for shift in (-0.02, 0.01)] for w in one[:1]] + two[1:]
    censored = parameter_factor_interval(sizes, edge, lstm_sizes, lstm, n_bootstrap=200)
    assert censored.n_censored > 0 and censored.low[0] == 0.0 and censored.mean_low == 0.0
    assert np.isfinite(censored.factor[0]) and censored.factor[0] > 0  # the point estimate is matched, not censored
    # and at the other edge: a GPT whose seeds straddle the LSTM ladder's best loss reaches infinity
    best_lstm = lstm[-1].window_loss_nats.mean()
    top = two[:-1] + [[ContextWindows(FIRSTS, LASTS, np.full_like(one[-1].window_bin_loss_nats, best_lstm + shift),
                                      DOCUMENTS) for shift in (-0.01, 0.02)]]
    above = parameter_factor_interval(sizes, top, lstm_sizes, lstm, n_bootstrap=200)
    assert np.isinf(above.high[-1]) and np.isinf(above.mean_high) and above.n_undecided == 0


def test_the_factor_is_a_bound_when_every_run_of_the_other_ladder_wins():
    assert factor_bound([1e4, 1e5], [2.5, 2.2], [2e4, 3e5], [1.9, 1.7]) == FactorBound(pytest.approx(2.0), True)
    # the first ladder wins everywhere: the other needs more than its largest, 3e5 / 1e5
    assert factor_bound([1e4, 1e5], [1.6, 1.5], [2e4, 3e5], [1.9, 1.7]) == FactorBound(pytest.approx(3.0), False)
    assert factor_bound([1e4, 1e5], [2.5, 2.2], [2e4, 3e5], [2.3, 1.7]) is None
    with pytest.raises(ValueError, match="^no loss of the first ladder"):
        parameter_factor_interval([1e4, 1e5], [_windows(np.full(len(FIRSTS), x)) for x in (2.5, 2.2)],
                                  [2e4, 3e5], [_windows(np.full(len(FIRSTS), x)) for x in (1.9, 1.7)])


def test_the_tokens_to_loss_slope_is_negative_for_sample_efficient_ladders():
    n = np.geomspace(1e4, 1e6, 5)
    slope = tokens_to_loss_slope(n, 4e6 * (n / 1e4) ** -0.5 * np.exp([0.01, -0.02, 0.0, 0.02, -0.01]))
    assert slope.low < -0.5 < slope.high and slope.high < 0
    with pytest.raises(ValueError, match="at least 3 sizes"):
        tokens_to_loss_slope(n, [1e6, np.nan, np.nan, np.nan, 1e5])


# ---------------------------------------------------------------------------
# The claims of the architecture store


def test_rules_with_a_side_need_the_whole_interval_on_that_side():
    above = Rule(side="above")
    assert above(Measurement(7.0, 5.5, 8.0), 5.0) and above.decides(Measurement(7.0, 5.5, 8.0), 5.0)
    assert not above(Measurement(2.0, 1.5, 3.0), 5.0) and above.decides(Measurement(2.0, 1.5, 3.0), 5.0)
    assert not above.decides(Measurement(5.5, 4.0, 7.0), 5.0)  # straddles: inconclusive
    assert not above(Measurement(0.0, 0.0, 0.0), 0.0) and above.decides(Measurement(0.0, 0.0, 0.0), 0.0)
    assert Rule(side="below")(Measurement(-0.4, -0.6, -0.2), 0.0)
    assert "wholly above" in above.describe()
    about = Rule(side="about", factor=2.0)
    assert about(Measurement(83, 64, 107), 100) and "within a factor 2" in about.describe()
    assert not about(Measurement(396, 396, 396), 100) and about.decides(Measurement(396, 396, 396), 100)
    assert not about.decides(Measurement(150, 100, 300), 100)
    for bad in ({"side": "about"}, {"side": "above", "factor": 2.0}, {"side": "about", "factor": 0.5}):
        with pytest.raises(ValueError, match="^factor"):
            Rule(**bad)
    with pytest.raises(ValueError, match="^side must be one of"):
        Rule(side="over")
    with pytest.raises(ValueError, match="^relative_tolerance goes with side='holds'"):
        Rule(side="above", relative_tolerance=0.1)


def _arch_store(fake_result, tmp_path, factor=6.0, lstm_plateau=100.0):
    """An architecture scan: 5 GPT and 8 LSTM sizes at two lrs (the better one 0.05 nats
    lower), each final model's windows following a law in N and in position, the LSTM
    needing ``factor`` times the parameters and flat along the context after ``lstm_plateau``."""
    corpus = CorpusConfig(kind="docstrings", n_tokens=12_000_000, min_document_tokens=2048)
    results = []
    for arch, sizes, k in (("gpt", np.geomspace(2e4, 1e6, 5), 1.0), ("lstm", np.geomspace(2e4, 5e7, 8), factor)):
        for i, n in enumerate(sizes):
            width = 32 + 8 * i
            model = GPTConfig(n_layer=2, n_head=4, d_model=width, n_ctx=N_CTX) if arch == "gpt" else \
                LSTMConfig(n_layer=2, d_model=width, n_ctx=N_CTX)
            along = _power_curve(E=0.0) if arch == "gpt" else _flat_after(lstm_plateau, E=0.0)
            for lr, worse in ((3e-3, 0.05), (6e-3, 0.0)):
                final = 1.5 + (2e3 * k / n) ** 0.3 + worse
                windows = _windows(_centred(along) + final, noise=0.05, document_noise=0.01)
                config = TrainConfig(model=model, corpus=corpus, tokens=4_000_000, lr=lr, n_evals=8)
                tokens = [4_000_000 * (j + 1) // 8 for j in range(8)]
                curve = [final * (1 + 0.5 * (4e6 / t - 1) * (1e4 / n) ** 0.3) for t in tokens]
                probe = {"bin_firsts": FIRSTS.tolist(), "bin_lasts": LASTS.tolist(),
                         "window_bin_loss_nats": windows.window_bin_loss_nats.tolist(),
                         "window_document": DOCUMENTS.tolist()}
                results.append(fake_result(config, n_params=int(n), loss=final, val_tokens=tokens,
                                           val_loss_nats=curve, final_val_loss_nats=curve[-1],
                                           probes={"context_windows": probe}))
    store = ResultsStore(tmp_path / "arch_ladder_docstrings", create=True)
    provenance = {"device": "cpu", "device_name": "test", "date": "2026-01-01T00:00:00+00:00",
                  "scalinglab_version": "0.1.0", "torch_version": "2.3.0", "git_commit": "abc123"}
    for result in results:
        store.put(run_record(result, provenance))
    return tmp_path


def test_the_architecture_claims_are_measured_on_a_store_that_follows_them(fake_result, tmp_path):
    results_dir = _arch_store(fake_result, tmp_path)
    table = load_table(results_dir / "arch_ladder_docstrings")
    assert len(best_runs(table)) == 13 and set(best_runs(table).column("config.lr")) == {6e-3}
    sizes, windows = ladder_windows(table, "lstm")
    assert len(sizes) == 8 and len(windows) == 8
    names = ("lstm_parameter_factor", "lstm_context_plateau_position", "gpt_position_power_law",
             "bigger_models_more_sample_efficient")
    found = {row["claim"]: row for row in rows(results_dir, [CLAIMS[name] for name in names])}
    factor = found["lstm_parameter_factor"]
    assert factor["reproduces"] is True and factor["measured"] == pytest.approx(6.0, rel=0.05)
    plateau = found["lstm_context_plateau_position"]
    assert plateau["reproduces"] is True and 50 <= plateau["low"] <= plateau["high"] <= 200
    assert found["gpt_position_power_law"]["reproduces"] is True
    assert found["bigger_models_more_sample_efficient"]["reproduces"] is True


def test_an_lstm_as_good_as_the_gpt_refutes_the_factor(fake_result, tmp_path):
    results_dir = _arch_store(fake_result, tmp_path, factor=1.0)
    row = rows(results_dir, [CLAIMS["lstm_parameter_factor"]])[0]
    assert row["reproduces"] is False and row["high"] < 5.0


# ---------------------------------------------------------------------------
# Few-shot accuracy


def test_the_wilson_interval_stays_in_the_unit_interval_and_narrows_with_more_prompts():
    low, high = binomial_interval(np.array([0.0, 0.5, 1.0]), 50)
    assert low[0] == pytest.approx(0.0, abs=1e-12) and high[2] == pytest.approx(1.0) and np.all(high > low)
    assert 0.38 < low[1] < 0.5 < high[1] < 0.62
    low_300, high_300 = binomial_interval(0.5, 300)
    assert high_300 - low_300 < (high[1] - low[1]) / 2  # six times the prompts: under half the width
    with pytest.raises(ValueError, match="^accuracy must lie"):
        binomial_interval(1.5, 10)


KS = [0, 1, 2, 4, 8, 16]


def _few_shot_probe(accuracy, *, n_prompts=300, tasks=("copy", "code"), seed=0):
    """A "few_shot" probe record whose prompts are right with probability ``accuracy[k]``,
    independently (each task and description alike)."""
    rng = np.random.default_rng(seed)
    correct = {task: {key: ["".join("1" if right else "0" for right in rng.random(n_prompts) < p) for p in accuracy]
                      for key in ("with_description", "without_description")} for task in tasks}
    table = {task: {key: [c.count("1") / n_prompts for c in cells] for key, cells in by_key.items()}
             for task, by_key in correct.items()}
    return {"ks": KS, "n_prompts": n_prompts, "seed": 0, "accuracy": table, "correct": correct}


def _rising(slope, start=0.2):
    return [0.1] + [min(1.0, start + slope * np.log2(k)) for k in KS[1:]]


def test_few_shot_outcomes_read_the_probes_prompt_by_prompt():
    outcomes = FewShotOutcomes.from_probes([_few_shot_probe(_rising(0.1), seed=s) for s in (0, 1)],
                                           with_description=False)
    assert outcomes.correct.shape == (2, 2, 6, 300) and outcomes.tasks == ("copy", "code")
    assert np.allclose(outcomes.accuracy(), _rising(0.1), atol=0.05)
    assert outcomes.task_accuracy().shape == (2, 6)
    old = _few_shot_probe(_rising(0.1))
    del old["correct"]
    with pytest.raises(ValueError, match="prompt-by-prompt outcomes"):
        FewShotOutcomes.from_probes([old], with_description=True)
    with pytest.raises(ValueError, match="must share ks"):
        FewShotOutcomes.from_probes([_few_shot_probe(_rising(0.1)), _few_shot_probe(_rising(0.1), n_prompts=50)],
                                    with_description=True)


def test_the_few_shot_slope_is_accuracy_per_doubling_of_k_with_a_paired_bootstrap():
    def ladder(*slopes, n_prompts=300, seeds=(0,)):
        return [FewShotOutcomes.from_probes([_few_shot_probe(_rising(b), n_prompts=n_prompts, seed=10 * i + s)
                                             for s in seeds], with_description=False)
                for i, b in enumerate(slopes)]

    found = few_shot_slopes(ladder(0.1, 0.05), n_bootstrap=300)
    assert found.ks == (1, 2, 4, 8, 16) and found.samples.shape == (300, 2)
    assert found.low[0] < found.slope[0] < found.high[0] and abs(found.slope[0] - 0.1) < 0.02
    assert found.high[0] - found.low[0] < 0.05
    difference, low, high = found.difference(0, 1)
    assert low < difference < high and 0 < low and abs(difference - 0.05) < 0.02
    few = few_shot_slopes(ladder(0.1, 0.05, n_prompts=30), n_bootstrap=300)
    assert few.high[0] - few.low[0] > 2 * (found.high[0] - found.low[0])  # a tenth of the prompts
    seeded = few_shot_slopes(ladder(0.1, seeds=(0, 1)), n_bootstrap=300)  # both seeds' answers, pooled
    assert seeded.low[0] < seeded.slope[0] < seeded.high[0] and abs(seeded.slope[0] - 0.1) < 0.02
    # the trend over a ladder whose slope grows by 0.02 per doubling of N, and over one whose slope does not
    rising = few_shot_slopes(ladder(0.04, 0.06, 0.08, 0.10), n_bootstrap=300)
    trend, low, high = rising.trend([1e4, 2e4, 4e4, 8e4])
    assert low < trend < high and trend == pytest.approx(0.02, abs=0.006) and low > 0
    flat, flat_low, flat_high = few_shot_slopes(ladder(0.06, 0.06, 0.06, 0.06), n_bootstrap=300).trend(
        [1e4, 2e4, 4e4, 8e4])
    assert flat_low < 0 < flat_high and abs(flat) < 0.005
    with pytest.raises(ValueError, match="^n_params must hold one size per model"):
        rising.trend([1e4, 2e4])
    with pytest.raises(ValueError, match="^n_params must hold at least two distinct sizes"):
        rising.trend([1e4] * 4)
    # a model compared with itself: the pairing leaves no spread
    same = few_shot_slopes(ladder(0.1) * 2, n_bootstrap=100).difference(0, 1)
    assert same == pytest.approx((0.0, 0.0, 0.0), abs=1e-12)
    with pytest.raises(ValueError, match="at least 3 values of k >= 1"):
        few_shot_slopes([FewShotOutcomes(np.array([0, 1, 2]), ("copy",), np.zeros((1, 1, 3, 5), bool))])
    with pytest.raises(ValueError, match="same ks, tasks and prompts"):
        few_shot_slopes(ladder(0.1) + ladder(0.1, n_prompts=50))


def _few_shot_store(fake_result, tmp_path, large_slope, n_prompts=300):
    corpus = CorpusConfig(kind="fewshot", n_tokens=6_000_000, document_tokens=320)
    store = ResultsStore(tmp_path / "icl_fewshot", create=True)
    provenance = {"device": "cpu", "device_name": "test", "date": "2026-01-01T00:00:00+00:00",
                  "scalinglab_version": "0.1.0", "torch_version": "2.3.0", "git_commit": "abc123"}
    for i, (d, n, slope) in enumerate(((32, 25_000, 0.02), (128, 400_000, large_slope))):
        probe = _few_shot_probe(_rising(slope), n_prompts=n_prompts, seed=i)
        config = TrainConfig(model=GPTConfig(n_layer=2, n_head=4, d_model=d, n_ctx=320), corpus=corpus, tokens=4_000_000)
        store.put(run_record(fake_result(config, n_params=n, probes={"few_shot": probe}), provenance))
    return tmp_path


@pytest.mark.parametrize(("large_slope", "verdict"), [(0.12, True), (0.02, None), (-0.05, False)])
def test_the_few_shot_claim_is_the_slopes_trend_in_size(fake_result, tmp_path, large_slope, verdict):
    row = rows(_few_shot_store(fake_result, tmp_path, large_slope), [CLAIMS["few_shot_slope_grows_with_size"]])[0]
    assert row["reproduces"] is verdict
    doublings = np.log2(400_000 / 25_000)  # two sizes: the trend is their difference per doubling of N
    assert row["measured"] == pytest.approx((large_slope - 0.02) / doublings, abs=0.005)
    assert "The largest minus the smallest alone" in row["note"]


def test_an_lstm_ladder_that_beats_every_gpt_bounds_the_factor_from_above(fake_result, tmp_path):
    results_dir = _arch_store(fake_result, tmp_path, factor=1e-3)  # the smallest LSTM beats the largest GPT
    row = rows(results_dir, [CLAIMS["lstm_parameter_factor"]])[0]
    assert row["reproduces"] is False and row["low"] == 0.0 and row["high"] == pytest.approx(1.0)
    assert row["note"].startswith("an upper bound")
