"""Tests of scalinglab.report ("What reproduces here"): claims measured on synthetic stores
whose losses follow a known law, the verdict computed from the interval, missing and
too-small stores, the rows' keys, and ``python -m scalinglab report``."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from scalinglab import report
from scalinglab.__main__ import main
from scalinglab.corpora import CorpusConfig, corpus_kind
from scalinglab.report import (
    CLAIMS,
    ROW_KEYS,
    Claim,
    Measurement,
    Rule,
    best_lr_per_batch_size,
    model_critical_batch_sizes,
    register,
    rows,
    store_table,
    to_text,
    verdict,
)
from scalinglab.runs import GPTConfig, TrainConfig, run_record
from scalinglab.store import ResultsStore

CORPUS = CorpusConfig(kind="zipf", n_rules=1000, n_tokens=56_000_000)
H = corpus_kind("zipf").entropy_rate_nats(CORPUS)
A_ZIPF = CORPUS.zipf_exponent - 1  # the quantization model's exponent of L(N) - H
WIDTHS = (12, 16, 24, 32, 48, 64, 96, 128)
BUDGETS = (1e11, 3e11, 1e12, 3e12)
EMBEDDING = 256 + 64  # (vocab + n_ctx) x d_model embedding parameters of the models below
PROVENANCE = {"device": "cpu", "device_name": "test", "date": "2026-01-01T00:00:00+00:00",
              "scalinglab_version": "0.1.0", "torch_version": "2.3.0", "git_commit": "abc123"}
LADDER_CLAIMS = ("zipf_irreducible_loss", "zipf_exponent_at_entropy")
ISOFLOP_CLAIMS = ("chinchilla_form_irreducible_loss", "allocation_exponent_non_embedding",
                  "allocation_exponent_all_parameters")
UNIVERSAL_CLAIMS = ("universal_allocation_exponent", "universal_allocation_exponent_all_parameters")
LATER_CLAIMS = ("kaplan_overfitting_exponent", "critical_batch_size_exponent")
ARCHITECTURE_CLAIMS = ("lstm_parameter_factor", "lstm_context_plateau_position", "gpt_position_power_law",
                       "bigger_models_more_sample_efficient", "few_shot_slope_grows_with_size")
# (the architecture and few-shot claims are measured in tests/test_ladders.py)
LIMIT_CLAIMS = ("repetition_r_star", "emergence_metric_extrapolation", "transfer_data_exponent",
                "transfer_size_exponent")
# (measured in tests/test_emergence_repetition.py and tests/test_transfer.py)


def _write(path, results):
    store = ResultsStore(path, create=True)
    for result in results:
        store.put(run_record(result, PROVENANCE))
    return path


def ladder_results(fake_result, *, E=H, alpha=A_ZIPF, seeds=(0, 1), widths=WIDTHS, noise=0.002, corpus=CORPUS):
    """2-layer GPTs of several widths, each seed a run, with final loss
    (E + (N0/N)^alpha) times a little log-normal noise; N = 24 d^2 non-embedding."""
    rng = np.random.default_rng(1)
    n_0 = 24 * widths[0] ** 2 * 1.5 ** (1 / alpha)  # 1.5 nats above E at the smallest size
    results = []
    for d in widths:
        for seed in seeds:
            n = 24 * d**2
            config = TrainConfig(model=GPTConfig(n_layer=2, n_head=2, d_model=d, n_ctx=64), corpus=corpus,
                                 tokens=8_000_000, seed=seed)
            loss = (E + (n_0 / n) ** alpha) * np.exp(rng.normal(0, noise))
            results.append(fake_result(config, n_params=n, n_params_with_embedding=n + EMBEDDING * d, loss=float(loss)))
    return results


def isoflop_results(fake_result, *, E=H, alpha=0.27, beta=0.73, count="non_embedding", budgets=BUDGETS, noise=0.002):
    """At each budget C, seven sizes around the optimum (a factor 25 from end to end), each
    trained on D = C / 6N tokens, with final loss E + A/x^alpha + B/D^beta times a little
    noise, where x counts the parameters without (``count="non_embedding"``) or with
    (``"all"``) the embeddings: so N_opt ∝ C^(beta / (alpha + beta)) in that count."""
    rng = np.random.default_rng(0)
    a = beta / (alpha + beta)
    B = 0.5 * (1e11 / 6e4) ** beta  # half a nat at the first budget's optimum
    G = 1e4 / (1e11 / 6) ** a  # N_opt = 10^4 at the first budget
    A = G ** (alpha + beta) * beta * B / alpha
    results = []
    for C in budgets:
        for target in G * (C / 6) ** a * np.geomspace(1 / 5, 5, 7):
            if count == "non_embedding":
                d, n = max(1, round(np.sqrt(target / 24))), round(target)
            else:  # solve n + EMBEDDING sqrt(n / 24) = target for sqrt(n)
                u = (-EMBEDDING / np.sqrt(24) + np.sqrt(EMBEDDING**2 / 24 + 4 * target)) / 2
                d, n = max(1, round(u / np.sqrt(24))), round(u * u)
            n_total, tokens = n + EMBEDDING * d, int(C / (6 * n))
            x = n if count == "non_embedding" else n_total
            loss = (E + A / x**alpha + B / tokens**beta) * np.exp(rng.normal(0, noise))
            config = TrainConfig(model=GPTConfig(n_layer=2, n_head=1, d_model=d, n_ctx=64), corpus=CORPUS, flops=C)
            results.append(fake_result(config, n_params=n, n_params_with_embedding=n_total, tokens=tokens,
                                       flops=C, loss=float(loss)))
    return results


_MEASURED: dict[tuple, dict[str, dict]] = {}


@pytest.fixture
def measured(fake_result, tmp_path_factory):
    """``measured(store, kind, **law)``: the rows, by claim, of a results directory holding
    one synthetic store ``store`` made by ``ladder_results`` or ``isoflop_results`` (kind);
    each made and measured once per session (the fits take seconds)."""

    def measure(store: str, kind: str, **law) -> dict[str, dict]:
        key = (store, kind, tuple(sorted(law.items())))
        if key not in _MEASURED:
            make = {"ladder": ladder_results, "isoflop": isoflop_results}[kind]
            results_dir = tmp_path_factory.mktemp("results")
            _write(results_dir / store, make(fake_result, **law))
            _MEASURED[key] = {row["claim"]: row for row in rows(results_dir)}
        return _MEASURED[key]

    return measure


def overfitting_results(fake_result, *, ratio=0.74, alpha_d=0.3, E=H, noise=0.002):
    """Runs of four widths on datasets of 0.25M to 8M unique tokens whose early-stopped loss
    follows Kaplan's L(N, D) = E + [(N_c/N)^(ratio) + D_c/D]^alpha_d (ratio = alpha_N/alpha_D)."""
    rng, results = np.random.default_rng(2), []
    n_c, d_c = 24 * 16**2 * 3.0, 2e5
    for d in (16, 32, 64, 128):
        n = 24 * d**2
        for unique in (250_000, 500_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000):
            loss = (E + ((n_c / n) ** ratio + d_c / unique) ** alpha_d) * np.exp(rng.normal(0, noise))
            config = TrainConfig(model=GPTConfig(n_layer=2, n_head=2, d_model=d, n_ctx=64), corpus=CORPUS,
                                 tokens=8 * unique, unique_tokens=unique)
            results.append(fake_result(config, n_params=n, loss=float(loss)))
    return results


def batch_scan_results(fake_result, *, alpha_b=0.21, b_crit_at_floor=2e4, noise=0.0):
    """Runs of two widths at seven batch sizes (512 to 32,768 tokens) whose learning curves
    obey McCandlish et al.'s trade-off, S(L) = S_min(L) (1 + B_crit(L)/B), with B_crit(L) =
    B* / L^(1/alpha_b) tokens (``b_crit_at_floor`` at the least loss, 0.9)."""
    rng, results, n_ctx = np.random.default_rng(3), [], 64
    losses = np.geomspace(3.0, 0.9, 40)
    for d, scale in ((32, 1.0), (64, 0.6)):
        s_min = scale * 200 * (losses - 0.5) ** -2.0
        b_crit = b_crit_at_floor * (losses / 0.9) ** (-1 / alpha_b)
        for batch in (8, 16, 32, 64, 128, 256, 512):
            tokens = batch * n_ctx * s_min * (1 + b_crit / (batch * n_ctx))
            config = TrainConfig(model=GPTConfig(n_layer=2, n_head=2, d_model=d, n_ctx=n_ctx), corpus=CORPUS,
                                 tokens=int(tokens[-1]), batch_size=batch, n_evals=len(losses))
            for lr, worse in ((1e-3, 1.0), (3e-3, 1.05)):  # the scan's second lr is worse all along: left out
                curve = worse * losses * np.exp(rng.normal(0, noise, len(losses)))
                results.append(fake_result(dataclasses.replace(config, lr=lr), n_params=24 * d**2,
                                           val_tokens=[int(t) for t in tokens], val_loss_nats=[float(v) for v in curve],
                                           final_val_loss_nats=float(curve[-1])))
    return results


# ---------------------------------------------------------------------------
# The claims on synthetic stores


def test_the_overfitting_exponent_is_measured_from_early_stopped_runs(fake_result, tmp_path):
    for ratio, reproduces in ((0.74, True), (1.3, False)):
        results_dir = tmp_path / f"r{ratio}"
        _write(results_dir / "overfitting_zipf", overfitting_results(fake_result, ratio=ratio))
        row = {r["claim"]: r for r in rows(results_dir)}["kaplan_overfitting_exponent"]
        assert row["reproduces"] is reproduces and row["low"] <= row["measured"] <= row["high"]
        assert row["measured"] == pytest.approx(ratio, abs=0.1)


def test_the_critical_batch_exponent_is_measured_from_the_steps_tokens_trade_off(fake_result, tmp_path):
    for alpha_b, reproduces in ((0.21, True), (0.5, False)):
        results_dir = tmp_path / f"b{alpha_b}"
        _write(results_dir / "batch_scan_zipf", batch_scan_results(fake_result, alpha_b=alpha_b, noise=0.01))
        row = {r["claim"]: r for r in rows(results_dir)}["critical_batch_size_exponent"]
        assert row["measured"] == pytest.approx(alpha_b, rel=0.1)
        assert row["reproduces"] is reproduces


def test_a_critical_batch_size_outside_the_batch_sizes_scanned_is_not_measured(fake_result, tmp_path):
    # B_crit below the smallest batch scanned (512 tokens) at every loss: the trade-off is extrapolated
    _write(tmp_path / "batch_scan_zipf", batch_scan_results(fake_result, b_crit_at_floor=300.0))
    table = store_table("batch_scan_zipf", tmp_path)
    one_width = best_lr_per_batch_size(table.where({"config.model.d_model": 32}))
    targets, b_crit = model_critical_batch_sizes(one_width)
    assert targets.size > 0 and np.all(np.isnan(b_crit))
    row = {r["claim"]: r for r in rows(tmp_path)}["critical_batch_size_exponent"]
    assert row["measured"] is None and "cannot be measured" in verdict(row)


def test_a_ladder_whose_constant_is_the_entropy_reproduces_both_ladder_claims(measured):
    found = measured("gpt_zipf_ladder", "ladder")
    irreducible, exponent = found["zipf_irreducible_loss"], found["zipf_exponent_at_entropy"]
    assert irreducible["reference"] == pytest.approx(H) and exponent["reference"] == pytest.approx(A_ZIPF)
    for row in (irreducible, exponent):
        assert row["low"] <= row["measured"] <= row["high"] and row["low"] <= row["reference"] <= row["high"]
        assert row["reproduces"] is True and row["source"] == "gpt_zipf_ladder"
        assert "8 sizes (16 runs, 2 a size)" in row["note"]
    assert abs(irreducible["measured"] - H) <= 0.02 * H
    assert all(found[name]["reproduces"] is None for name in ISOFLOP_CLAIMS)  # that store is not in this directory


def test_a_ladder_whose_constant_is_far_from_the_entropy_reproduces_neither(measured):
    found = measured("gpt_zipf_ladder", "ladder", E=1.3 * H)
    assert found["zipf_irreducible_loss"]["low"] > H and found["zipf_irreducible_loss"]["reproduces"] is False
    # L - H is then a power law plus a constant: its log-log slope is shallower than a
    assert found["zipf_exponent_at_entropy"]["high"] < A_ZIPF
    assert found["zipf_exponent_at_entropy"]["reproduces"] is False


def test_a_ladder_at_the_entropy_with_another_exponent_keeps_e_and_refutes_the_exponent(measured):
    found = measured("gpt_zipf_ladder", "ladder", alpha=2 * A_ZIPF)
    assert found["zipf_irreducible_loss"]["reproduces"] is True
    exponent = found["zipf_exponent_at_entropy"]
    assert exponent["low"] <= 2 * A_ZIPF <= exponent["high"] and exponent["reproduces"] is False


def test_isoflop_runs_allocated_in_non_embedding_parameters_match_kaplan_not_hoffmann(measured):
    found = measured("isoflop_zipf_1k", "isoflop")
    chinchilla = found["chinchilla_form_irreducible_loss"]
    assert chinchilla["reference"] == pytest.approx(H) and chinchilla["reproduces"] is True
    kaplan, hoffmann = found["allocation_exponent_non_embedding"], found["allocation_exponent_all_parameters"]
    assert kaplan["reference"] == 0.73 and kaplan["reproduces"] is True
    assert abs(kaplan["measured"] - 0.73) < 0.03
    # counted with the embeddings, the same runs give a shallower slope, but not 0.5
    assert hoffmann["reference"] == 0.5 and 0.5 < hoffmann["low"] < hoffmann["high"] < kaplan["low"]
    assert hoffmann["reproduces"] is False
    assert "4 budgets, 28 runs; minimum inside the sampled sizes at 4 of 4 budgets; Student-t interval" in kaplan["note"]


def test_the_allocation_claims_follow_the_parameter_count_the_runs_were_allocated_in(fake_result, tmp_path):
    _write(tmp_path / "isoflop_zipf_1k", isoflop_results(fake_result, alpha=0.4, beta=0.4, count="all"))
    found = {row["claim"]: row for row in rows(tmp_path, claims=[CLAIMS[name] for name in ISOFLOP_CLAIMS[1:]])}
    assert found["allocation_exponent_all_parameters"]["reproduces"] is True
    assert found["allocation_exponent_non_embedding"]["reproduces"] is False
    assert found["allocation_exponent_non_embedding"]["high"] < 0.73


def test_a_chinchilla_constant_far_from_the_entropy_does_not_reproduce(fake_result, tmp_path):
    _write(tmp_path / "isoflop_zipf_1k", isoflop_results(fake_result, E=1.5 * H))
    (row,) = rows(tmp_path, claims=[CLAIMS["chinchilla_form_irreducible_loss"]])
    assert row["low"] > H and row["reproduces"] is False and verdict(row) == "does not reproduce"


# ---------------------------------------------------------------------------
# Missing, small and odd stores


def test_a_missing_store_gives_rows_without_numbers(tmp_path):
    found = rows(tmp_path)
    assert [row["claim"] for row in found] == list(CLAIMS)
    for row in found:
        assert row["measured"] is row["low"] is row["high"] is row["reproduces"] is None
        assert row["note"] == f"not recorded yet: results/{row['source']} has 0 runs"
        assert verdict(row) == "not recorded yet"
    literature = {row["claim"]: row["reference"] for row in found}
    assert literature["allocation_exponent_non_embedding"] == 0.73  # a constant reference is known without runs
    assert literature["zipf_irreducible_loss"] is None  # one computed from the store is not


def test_a_store_with_too_few_runs_or_sizes_or_budgets_says_how_many_runs_it_has(fake_result, tmp_path):
    _write(tmp_path / "gpt_zipf_ladder", ladder_results(fake_result, widths=WIDTHS[:3]))  # 6 runs, 3 sizes
    _write(tmp_path / "isoflop_zipf_1k", isoflop_results(fake_result, budgets=BUDGETS[:1]))  # 7 runs, one budget
    found = {row["claim"]: row for row in rows(tmp_path)}
    assert found["zipf_irreducible_loss"]["note"] == (
        "not recorded yet: results/gpt_zipf_ladder has 6 runs (3 model sizes; the fit needs at least 4)")
    assert found["allocation_exponent_non_embedding"]["note"] == (
        "not recorded yet: results/isoflop_zipf_1k has 7 runs (this claim needs at least 9)")
    assert found["chinchilla_form_irreducible_loss"]["note"].startswith(
        "not recorded yet: results/isoflop_zipf_1k has 7 runs")
    assert all(row["reproduces"] is None and row["measured"] is None for row in found.values())


def test_isoflop_runs_at_two_budgets_give_no_interval_yet(fake_result, tmp_path):
    _write(tmp_path / "isoflop_zipf_1k", isoflop_results(fake_result, budgets=BUDGETS[:2]))
    (row,) = rows(tmp_path, claims=[CLAIMS["allocation_exponent_non_embedding"]])
    assert row["reproduces"] is None
    assert row["note"] == ("not recorded yet: results/isoflop_zipf_1k has 14 runs "
                           "(2 budgets with a minimum; an interval needs 3)")


def test_a_loss_below_the_entropy_leaves_the_exponent_unmeasured(fake_result, tmp_path):
    results = ladder_results(fake_result)
    results[-1] = fake_result(results[-1].config, n_params=results[-1].n_params, loss=H - 0.01)
    _write(tmp_path / "gpt_zipf_ladder", results)
    found = {row["claim"]: row for row in rows(tmp_path, claims=[CLAIMS[name] for name in LADDER_CLAIMS])}
    row = found["zipf_exponent_at_entropy"]
    assert row["measured"] is None and row["reproduces"] is None and verdict(row) == "cannot be measured"
    assert row["note"].startswith("cannot be measured: 1 of 16 runs have a loss at or below")
    assert found["zipf_irreducible_loss"]["measured"] is not None


def test_runs_on_two_corpora_are_an_error(fake_result, tmp_path):
    other = CORPUS.replace(n_rules=2000)
    mixed = ladder_results(fake_result) + ladder_results(fake_result, seeds=(2,), corpus=other)
    _write(tmp_path / "gpt_zipf_ladder", mixed)
    with pytest.raises(ValueError, match="must share one corpus, got 2"):
        rows(tmp_path, claims=[CLAIMS["zipf_irreducible_loss"]])


def test_a_results_dir_that_is_not_a_directory_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="^results_dir must be a directory of results stores"):
        rows(tmp_path / "missing")
    assert report.store_table("no_such_store") is None  # in the repository's results/


# ---------------------------------------------------------------------------
# Rows, rules and the registry


def test_rows_have_the_seven_keys_and_plain_json_values(measured):
    found = list(measured("gpt_zipf_ladder", "ladder").values())
    assert ROW_KEYS == ("claim", "measured", "low", "high", "reference", "source", "reproduces")
    for row in found:
        assert set(ROW_KEYS) <= set(row) <= set(ROW_KEYS) | {"text", "reference_source", "rule", "note"}
        assert row["reproduces"] in (True, False, None) and type(row["reproduces"]) in (bool, type(None))
        assert all(row[key] is None or type(row[key]) is float for key in ("measured", "low", "high", "reference"))
    assert json.loads(json.dumps(found)) == found


def test_the_same_store_gives_the_same_rows(fake_result, tmp_path):
    _write(tmp_path / "gpt_zipf_ladder", ladder_results(fake_result))
    claims = [CLAIMS[name] for name in LADDER_CLAIMS]
    assert rows(tmp_path, claims=claims) == rows(tmp_path, claims=claims)


def test_the_rule_is_computed_from_the_interval_and_the_tolerance():
    inside_but_far = Measurement(0.56, 0.50, 0.60)
    assert Rule()(inside_but_far, 0.544) is True
    assert Rule(relative_tolerance=0.02)(inside_but_far, 0.544) is False
    assert Rule(relative_tolerance=0.05)(inside_but_far, 0.544) is True
    assert Rule()(Measurement(0.7, 0.65, 0.75), 0.544) is False
    assert "within 2%" in Rule(relative_tolerance=0.02).describe()
    assert CLAIMS["zipf_irreducible_loss"].rule.relative_tolerance == 0.02
    for bad in (0, 1.5, True, "2%"):
        with pytest.raises(ValueError, match="^relative_tolerance must be"):
            Rule(relative_tolerance=bad)
    with pytest.raises(ValueError, match="^low must not exceed high"):
        Measurement(0.5, 0.6, 0.4)
    with pytest.raises(ValueError, match="^measured must be a finite number"):
        Measurement(float("nan"), 0.4, 0.6)


def test_a_new_claim_is_one_function_and_one_claim(fake_result, tmp_path):
    def mean_loss(table):
        loss = table.column("result.final_val_loss_nats")
        return Measurement(loss.mean(), loss.min(), float(np.median(loss)), note=f"{len(table)} runs")

    claim = Claim(name="mean_loss_above_entropy", claim="The ladder's losses straddle 1 nat.",
                  source="gpt_zipf_ladder", reference_source="made up", reference=1.0, measure=mean_loss)
    _write(tmp_path / "gpt_zipf_ladder", ladder_results(fake_result))
    (row,) = rows(tmp_path, claims=[claim])
    assert row["claim"] == "mean_loss_above_entropy" and row["reference"] == 1.0 and row["reproduces"] is True
    assert row["note"] == "16 runs"
    assert row["rule"] == ("the 90% interval holds the reference; an interval that holds it but is wider than it "
                           "is inconclusive")


def test_the_registry_holds_the_claims_and_refuses_bad_ones():
    assert list(CLAIMS) == [*LADDER_CLAIMS, *ISOFLOP_CLAIMS, *UNIVERSAL_CLAIMS, *LATER_CLAIMS, *ARCHITECTURE_CLAIMS,
                            *LIMIT_CLAIMS]
    assert {claim.source for claim in CLAIMS.values()} == {
        "gpt_zipf_ladder", "isoflop_zipf_1k", "universality_allocation", "overfitting_zipf", "batch_scan_zipf",
        "arch_ladder_docstrings", "icl_fewshot", "repetition_zipf_1k", "emergence_ladder", "transfer_finetune"}
    assert CLAIMS["allocation_exponent_non_embedding"].reference_source == "Kaplan et al. 2020"
    assert CLAIMS["allocation_exponent_all_parameters"].reference_source == "Hoffmann et al. 2022"
    with pytest.raises(ValueError, match="is registered twice"):
        register(CLAIMS["zipf_irreducible_loss"])
    good = {"name": "x", "claim": "a sentence", "source": "store", "reference_source": "a paper",
            "measure": lambda table: None}
    for field, value, message in [
        ("name", "Not Snake", "^name must be a snake_case id"),
        ("source", "results/store", "^source must be the name of a store"),
        ("claim", " ", "^claim must be a non-empty string"),
        ("measure", 3, "^measure must be a function"),
        ("reference", float("inf"), "^reference must be None or a finite number"),
        ("min_runs", 0, "^min_runs must be a positive integer"),
    ]:
        with pytest.raises(ValueError, match=message):
            Claim(**{**good, field: value})


def test_the_text_table_has_a_row_and_a_verdict_a_claim(measured):
    found = list(measured("gpt_zipf_ladder", "ladder").values())
    text = to_text(found)
    header, *lines = text.splitlines()
    assert header.split() == ["claim", "measured", "[90%", "interval]", "reference", "(source)", "verdict"]
    for row, line in zip(found, lines):
        assert line.startswith(row["claim"]) and line.endswith(verdict(row))
    assert "(corpus entropy rate)" in lines[0] and "0.73 (Kaplan et al. 2020)" in text
    assert "not recorded yet: results/isoflop_zipf_1k has 0 runs" in text
    assert to_text(found, details=False).count("\n") == len(found)


# ---------------------------------------------------------------------------
# The command line


def test_the_cli_writes_json_rows(fake_result, tmp_path, capsys):
    _write(tmp_path / "gpt_zipf_ladder", ladder_results(fake_result))
    assert main(["report", "--json", "--results", str(tmp_path)]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [row["claim"] for row in found] == list(CLAIMS)
    assert all(set(ROW_KEYS) <= set(row) for row in found)
    by_name = {row["claim"]: row for row in found}
    assert by_name["zipf_irreducible_loss"]["reproduces"] is True
    assert by_name["allocation_exponent_non_embedding"]["reproduces"] is None


def test_the_cli_prints_a_table(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("claim") and out.count("not recorded yet") >= len(CLAIMS)


def test_the_cli_names_a_bad_results_argument(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --results must be a directory of results stores") and "missing" in err
    (tmp_path / "file").write_text("")
    assert main(["report", "--json", "--results", str(tmp_path / "file")]) == 2


def test_the_report_imports_no_torch():
    code = "import sys, scalinglab.report; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_interval_wider_than_the_reference_is_inconclusive(fake_result, tmp_path):
    def loose(table):
        return Measurement(measured=0.9, low=-1.0, high=3.0, note="a very loose fit")

    claim = Claim(name="loose_claim", claim="A claim.", source="gpt_zipf_ladder", reference_source="a paper",
                  reference=0.5, measure=loose, min_runs=1)
    _write(tmp_path / "gpt_zipf_ladder", ladder_results(fake_result))
    (row,) = rows(tmp_path, claims=[claim])
    assert row["reproduces"] is None and verdict(row) == "inconclusive"
    assert row["low"] == -1.0 and row["high"] == 3.0 and "a very loose fit" in row["note"]
    tight = Rule()
    assert tight.decides(Measurement(measured=0.5, low=0.3, high=0.7, note=""), 0.5)
    assert not tight.decides(Measurement(measured=0.5, low=0.0, high=1.1, note=""), 0.5)
    assert tight.decides(Measurement(measured=2.0, low=1.4, high=3.0, note=""), 0.5)  # wide, but it misses


def test_a_comparison_with_the_papers_says_where_each_reference_lies():
    from scalinglab.report import against_references, where_reference_lies

    assert where_reference_lies(0.4, 0.6, 0.5) == "inside"
    assert where_reference_lies(0.6, 0.8, 0.5) == "below it" and where_reference_lies(0.1, 0.3, 0.5) == "above it"
    assert where_reference_lies(-1.0, 2.0, 0.5).endswith("inconclusive")
    table = against_references([("a, IsoFLOP", 0.62, (0.55, 0.70), 0.73, "Kaplan et al."),
                                ("E", 0.60, (0.58, 0.61), 0.586, "entropy")])
    lines = table.splitlines()
    assert len(lines) == 3 and "90% interval" in lines[0]
    assert lines[1].startswith("a, IsoFLOP") and "above it (Kaplan et al.)" in lines[1]
    assert "[0.580, 0.610]" in lines[2] and "inside (entropy)" in lines[2]


def _on_corpus(results, corpus):
    """``results`` as if run on ``corpus``."""
    moved = []
    for result in results:
        config = dataclasses.replace(result.config, corpus=corpus)
        moved.append(dataclasses.replace(result, config=config, config_hash=config.config_hash()))
    return moved


MODALITY_CORPORA = {"docstrings": CorpusConfig(kind="docstrings", n_tokens=1_000_000),
                    "package_code": CorpusConfig(kind="package_code", n_tokens=1_000_000),
                    "shapes": CorpusConfig(kind="shapes", n_tokens=1_000_000),
                    "arithmetic": CorpusConfig(kind="arithmetic", n_tokens=1_000_000)}


def test_one_allocation_exponent_for_every_modality_is_tested_before_it_is_compared(fake_result, tmp_path):
    claims = [CLAIMS[name] for name in UNIVERSAL_CLAIMS]
    same = [r for corpus in MODALITY_CORPORA.values() for r in _on_corpus(isoflop_results(fake_result), corpus)]
    _write(tmp_path / "shared" / "universality_allocation", same)
    found = {row["claim"]: row for row in rows(tmp_path / "shared", claims=claims)}
    kaplan = found["universal_allocation_exponent"]
    assert kaplan["reproduces"] is True and abs(kaplan["measured"] - 0.73) < 0.03
    assert "F test of one exponent" in kaplan["note"] and "text 0.7" in kaplan["note"]
    assert "arithmetic 4/4" in kaplan["note"]  # every minimum interior
    # One modality allocating at 0.5: no single exponent, so none is compared.
    apart = [r for kind, corpus in MODALITY_CORPORA.items() if kind != "arithmetic"
             for r in _on_corpus(isoflop_results(fake_result), corpus)]
    apart += _on_corpus(isoflop_results(fake_result, alpha=0.5, beta=0.5), MODALITY_CORPORA["arithmetic"])
    _write(tmp_path / "apart" / "universality_allocation", apart)
    found = {row["claim"]: row for row in rows(tmp_path / "apart", claims=claims)}
    row = found["universal_allocation_exponent"]
    assert row["reproduces"] is None and row["measured"] is None and verdict(row) == "cannot be measured"
    assert "do not share one exponent" in row["note"] and "arithmetic 0.5" in row["note"]
    # Three modalities, and the fourth at one budget only: not recorded yet (and no error).
    one_budget = [r for r in apart[3 * 28:] if r.config.flops == BUDGETS[0]]
    _write(tmp_path / "three" / "universality_allocation", apart[: 3 * 28] + one_budget)
    found = {row["claim"]: row for row in rows(tmp_path / "three", claims=claims)}
    assert verdict(found["universal_allocation_exponent"]) == "not recorded yet"
    assert "arithmetic: fewer than 3 budgets" in found["universal_allocation_exponent"]["note"]
