"""Tests of scalinglab.results: a table of runs from results stores, its dotted columns and
selections, the recorded stores of this repository, and reading them without torch."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from scalinglab.corpora import CorpusConfig
from scalinglab.results import RunTable, load_table, recorded_store
from scalinglab.runs import GPTConfig, LSTMConfig, RunResult, TrainConfig, run_record
from scalinglab.store import ResultsStore

RESULTS = Path(__file__).resolve().parents[1] / "results"
RECORDED_STORES = sorted(path.parent.name for path in RESULTS.glob("*/store.json"))
OLD_VAL_FIELDS = {"val_icl_score_nats": "icl_score", "val_prefix_matching": "prefix_matching",
                  "val_induction_mass": "induction_mass"}

BASE = TrainConfig(model=GPTConfig(n_layer=1, n_head=2, d_model=8, n_ctx=16), tokens=4096,
                   corpus=CorpusConfig(kind="zipf", n_tokens=20_000))


def _provenance(device_name: str, date: str, torch_version: str = "2.3.0") -> dict:
    return {"device": "cpu", "device_name": device_name, "date": date, "scalinglab_version": "0.1.0",
            "torch_version": torch_version, "git_commit": "abc123"}


@pytest.fixture
def tiny_store(tmp_path, fake_result) -> tuple[Path, dict[str, RunResult]]:
    """A store of four made-up runs: GPTs and LSTMs of widths 8 and 16, written with run_record."""
    store = ResultsStore(tmp_path / "store", create=True)
    results = {}
    for i, (model, n_params) in enumerate([
        (GPTConfig(n_layer=1, n_head=2, d_model=8, n_ctx=16), 900),
        (GPTConfig(n_layer=1, n_head=2, d_model=16, n_ctx=16), 3300),
        (LSTMConfig(n_layer=1, d_model=8, n_ctx=16), 600),
        (LSTMConfig(n_layer=1, d_model=16, n_ctx=16), 2200),
    ]):
        result = fake_result(dataclasses.replace(BASE, model=model), n_params=n_params, loss=3.0 - n_params / 2000)
        store.put(run_record(result, _provenance("x86_64", f"2024-01-0{i + 1}T10:00:00+00:00")))
        results[result.config_hash] = result
    return store.path, results


# ---------------------------------------------------------------------------
# A table of runs


def test_a_table_reads_back_the_results_written_in_run_id_order(tiny_store):
    path, results = tiny_store
    table = load_table(path)
    assert len(table) == 4 and table.sources == (str(path),)
    assert [run.run_id for run in table] == sorted(results)
    assert list(table.results) == [results[run_id] for run_id in sorted(results)]  # equal, field by field
    assert all(p["git_commit"] == "abc123" for p in table.provenance)


def test_columns_are_dotted_paths_into_config_result_and_provenance(tiny_store):
    path, results = tiny_store
    table = load_table(path)
    assert list(table.column("run_id")) == sorted(results)
    n_params = table.column("result.n_params")
    assert isinstance(n_params, np.ndarray) and sorted(n_params) == [600, 900, 2200, 3300]
    assert sorted(table.column("config.model.arch")) == ["gpt", "gpt", "lstm", "lstm"]
    assert set(table.column("config.corpus.kind")) == {"zipf"} and set(table.column("config.corpus.n_tokens")) == {20_000}
    assert set(table.column("provenance.device_name")) == {"x86_64"}
    best = table.column("result.best_val_loss_nats")  # a property of RunResult is a column too
    assert np.allclose(best, [min(r.val_loss_nats) for r in table.results])
    assert np.array_equal(table.column("result.val_probes.icl_score")[0], table.results[0].val_probes["icl_score"])
    for column, message in [
        ("n_params", "column must be 'run_id' or a dotted path starting with config., result., provenance."),
        ("model.d_model", "column must be 'run_id' or a dotted path"),
        ("result.", "column must be 'run_id' or a dotted path"),
        ("config.model.n_head", "column 'config.model.n_head': config.model has no 'n_head'"),  # the LSTMs
        ("provenance.host", "column 'provenance.host': provenance has no 'host'"),
        ("result.val_probes.missing", "column 'result.val_probes.missing': result.val_probes has no 'missing'"),
    ]:
        with pytest.raises(ValueError, match=f"^{message}"):
            table.column(column)


def test_where_filter_sort_and_group_select_runs(tiny_store):
    table = load_table(tiny_store[0])
    lstm = table.where({"config.model.arch": "lstm"})
    assert isinstance(lstm, RunTable) and len(lstm) == 2 and set(lstm.column("config.model.arch")) == {"lstm"}
    assert len(table.where({"config.model.arch": "gpt", "config.model.d_model": 16})) == 1
    assert len(table.where({"config.model.arch": "rnn"})) == 0 and len(table.where({})) == 4
    big = table.filter(lambda run: run.result.n_params > 1000)
    assert sorted(big.column("result.n_params")) == [2200, 3300]
    assert list(table.sort_by("result.n_params").column("result.n_params")) == [600, 900, 2200, 3300]
    by_arch = table.sort_by("config.model.arch", "config.model.d_model")
    assert [(run.value("config.model.arch"), run.value("config.model.d_model")) for run in by_arch] == [
        ("gpt", 8), ("gpt", 16), ("lstm", 8), ("lstm", 16)
    ]
    with pytest.raises(ValueError, match="^columns must name at least one column"):
        table.sort_by()
    groups = table.group_by("config.model.d_model")
    assert list(groups) == [8, 16] and all(len(group) == 2 for group in groups.values())
    assert sorted(groups[16].column("result.n_params")) == [2200, 3300]
    assert table.sources == lstm.sources == groups[8].sources  # selections keep where the runs came from


def test_tables_concatenate(tiny_store, tmp_path, fake_result):
    first = load_table(tiny_store[0])
    other = ResultsStore(tmp_path / "other", create=True)
    extra = fake_result(dataclasses.replace(BASE, seed=5))
    other.put(run_record(extra, _provenance("arm64", "2024-02-01T00:00:00+00:00")))
    second = load_table(other.path)
    both = first + second
    assert len(both) == 5 and both.runs == first.runs + second.runs
    assert both.sources == (str(tiny_store[0]), str(other.path))
    assert len(load_table(tiny_store[0], other.path)) == 5 and (first + first).sources == first.sources
    with pytest.raises(TypeError):
        first + [extra]  # noqa: B018
    with pytest.raises(ValueError, match="^paths must name at least one results store"):
        load_table()


def test_provenance_summary_and_text_say_where_when_and_what(tiny_store, tmp_path, fake_result):
    table = load_table(tiny_store[0])
    assert table.provenance_summary() == (
        "4 runs on cpu (x86_64), 2024-01-01 to 2024-01-04, scalinglab 0.1.0, torch 2.3.0"
    )
    other = ResultsStore(tmp_path / "other", create=True)
    other.put(run_record(fake_result(dataclasses.replace(BASE, seed=5)),
                         _provenance("arm64", "2024-02-01T00:00:00+00:00", torch_version="2.4.0")))
    mixed = table + load_table(other.path)
    assert mixed.provenance_summary() == (
        "5 runs on cpu (arm64) / cpu (x86_64), 2024-01-01 to 2024-02-01, scalinglab 0.1.0, torch 2.3.0 / 2.4.0"
    )
    assert table.where({"config.model.arch": "rnn"}).provenance_summary() == "0 runs"
    lines = table.to_text().splitlines()
    assert len(lines) == 5 and lines[0].split()[:4] == ["run", "arch", "layers", "d_model"]
    assert [line.split()[1] for line in lines[1:]] == ["gpt", "gpt", "lstm", "lstm"]  # sorted by arch, then size


def test_a_corrupt_record_is_left_out_of_the_table_with_a_warning(tiny_store):
    path, results = tiny_store
    (path / "runs" / "broken.json").write_text('{"run_id": ')
    with pytest.warns(UserWarning, match="broken.json"):
        table = load_table(path)
    assert len(table) == len(results)


# ---------------------------------------------------------------------------
# The recorded stores


def test_the_repository_has_recorded_stores():
    assert len(RECORDED_STORES) >= 10 and {"gpt_zipf", "lstm_zipf", "emergence_ladder"} <= set(RECORDED_STORES)


@pytest.mark.parametrize("name", RECORDED_STORES)
def test_every_recorded_record_loads_under_its_unchanged_run_id(name):
    store = ResultsStore(recorded_store(name))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no record is corrupt
        records = store.load()
        table = load_table(store.path)
    assert len(records) == len(store) == len(table) > 0
    for record, run in zip(records, table, strict=True):
        config = TrainConfig.from_dict(record["config"])
        assert config.config_hash() == record["run_id"] == run.run_id  # the ids of old records are unchanged
        result = RunResult.from_record(record)
        assert result == run.result and result.config == config and result.config_hash == record["run_id"]
        for old, probe in OLD_VAL_FIELDS.items():  # old per-evaluation fields are now probe series
            if record["result"].get(old):
                assert result.val_probes[probe] == record["result"][old]
        assert all(len(series) == len(result.val_loss_nats) for series in result.val_probes.values())
        if "addition" in record["result"].get("probes", {}):  # the skills probe's old layout
            assert result.probes["skills"] == {k: record["result"]["probes"][k] for k in ("addition", "facts")}
        assert json.loads(json.dumps(run_record(result, record["provenance"])))["config"] == config.to_dict()


def test_recorded_store_finds_the_repository_results_and_names_what_is_missing():
    for name in ["gpt_zipf", "lstm_zipf"]:
        table = load_table(recorded_store(name))
        assert len(table) == 7, name
        assert len(set(table.column("result.n_params"))) == 7
        assert all(p["scalinglab_version"] and p["date"] for p in table.provenance)
    gpt = load_table(recorded_store("gpt_zipf")).column("result.n_params")
    assert gpt.max() / gpt.min() >= 30  # the ladder spans at least 30x in N
    with pytest.raises(ValueError, match="no recorded store results/nonexistent"):
        recorded_store("nonexistent")
    with pytest.raises(ValueError, match="name must be"):
        recorded_store("../etc")


# ---------------------------------------------------------------------------
# Reading results needs no torch


def _imports_no_torch(code: str) -> None:
    """Run ``code`` in a fresh interpreter and fail, naming the culprit, if it imported torch."""
    check = (
        f"{code}\n"
        "import sys\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('scalinglab'))\n"
    )
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr


def test_reading_a_results_store_into_a_table_imports_no_torch():
    _imports_no_torch(
        "from scalinglab.results import load_table, recorded_store\n"
        "table = load_table(recorded_store('gpt_zipf'))\n"
        "assert len(table.column('result.n_params')) == 7\n"
        "table.where({'config.model.arch': 'gpt'}).sort_by('result.flops').provenance_summary()\n"
    )


def test_the_analysis_modules_import_no_torch():
    _imports_no_torch(
        "import scalinglab.fit, scalinglab.icl, scalinglab.plots, scalinglab.transfer, scalinglab.universality\n"
        "import scalinglab.corpora, scalinglab.runs, scalinglab.store, scalinglab.results\n"
    )


def test_sorting_puts_missing_values_last_and_ragged_columns_are_objects(tmp_path):
    from scalinglab.results import Run, RunTable

    class Fake:
        def __init__(self, tokens, curve):
            self.config, self.tokens, self.val_loss_nats = None, tokens, curve

    runs = tuple(Run(str(i), Fake(t, c), {}) for i, (t, c) in enumerate([(None, [1.0]), (5, [2.0, 1.5]), (2, [3.0])]))
    table = RunTable(runs)
    assert [run.run_id for run in table.sort_by("result.tokens")] == ["2", "1", "0"]
    curves = table.column("result.val_loss_nats")
    assert curves.dtype == object and list(curves[1]) == [2.0, 1.5]
