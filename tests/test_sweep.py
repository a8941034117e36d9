"""Sweeps: grid files, checks before any run, resume after SIGKILL, a Dask LocalCluster, the CLI."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import scalinglab.sweep
from scalinglab.__main__ import main
from scalinglab.corpora import KINDS, CorpusConfig
from scalinglab.results import load_table
from scalinglab.runs import GPTConfig, TrainConfig
from scalinglab.store import ResultsStore
from scalinglab.sweep import expand_grid, load_grid, run_sweep

TINY_GRID = """
[base]
tokens = {tokens}
batch_size = 4
n_evals = 1
eval_tokens = 256
device = "cpu"
[base.model]
n_ctx = 16
n_head = 2
n_layer = 1
[base.corpus]
kind = "zipf"
n_tokens = 20000
n_rules = 50
[axes]
"model.d_model" = {widths}
"""


def write_grid(tmp_path: Path, widths=(8, 16), tokens=2048) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(TINY_GRID.format(tokens=tokens, widths=list(widths)))
    return path


def test_grid_expands_to_the_product_of_its_axes():
    spec = {
        "base": {"tokens": 1000, "model": {"n_ctx": 16}, "corpus": {"kind": "zipf"}},
        "axes": {
            "seed": [0, 1, 2],
            "model": [{"n_layer": 1, "d_model": 8, "n_head": 2}, {"n_layer": 2, "d_model": 16, "n_head": 4}],
            "corpus.kind": ["zipf", "markov_icl"],
        },
    }
    configs = expand_grid(spec)
    assert len(configs) == 3 * 2 * 2
    assert {c.model.d_model for c in configs} == {8, 16}
    assert {(c.model.n_layer, c.model.d_model) for c in configs} == {(1, 8), (2, 16)}
    assert all(c.model.n_ctx == 16 for c in configs)
    assert len({c.config_hash() for c in configs}) == 12


def test_axes_blocks_make_the_union_of_their_products():
    spec = {
        "base": {"model": {"n_ctx": 16, "n_head": 2}, "corpus": {"kind": "zipf"}},
        "axes": [
            {"flops": [1e9], "model.d_model": [8, 16]},
            {"flops": [1e10, 1e11], "model.d_model": [16, 32, 64]},
        ],
    }
    configs = expand_grid(spec)
    assert [(c.flops, c.model.d_model) for c in configs][:3] == [(1e9, 8), (1e9, 16), (1e10, 16)]
    assert len(configs) == 2 + 6
    with pytest.raises(ValueError, match="at least one block"):
        expand_grid({"base": {"tokens": 10}, "axes": []})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"base": {"tokens": 10}, "axes": {"sede": [0]}}, "unknown key 'sede'"),
        ({"base": {"tokens": 10, "model": {"d_modle": 8}}}, "unknown key 'model.d_modle'"),
        ({"base": {"tokens": 10}, "axes": {"corpus.knd": ["zipf"]}}, "corpus: 'knd' is not a parameter of the 'zipf' corpus"),
        ({"base": {"tokens": 10, "model": {"arch": "lstm", "n_head": 2}}}, "unknown key 'model.n_head'"),
        ({"base": {"tokens": 10, "model": {"arch": "rnn"}}}, "model.arch must be one of 'gpt', 'lstm', got 'rnn'"),
        ({"base": {"tokens": 10}, "axes": {"seed": []}}, "axis 'seed' must be a non-empty list"),
        ({"base": {"tokens": 10}, "axes": {"seed": 3}}, "axis 'seed' must be a non-empty list"),
        ({"base": {"tokens": "many"}}, "tokens must be a positive integer"),
        ({"base": {"tokens": 10, "model": {"d_model": "64"}}}, "d_model must be a positive integer"),
        ({"base": {"tokens": 10}, "runs": {}}, "unknown section 'runs'"),
    ],
)
def test_bad_grids_are_rejected_with_the_key_named(spec, message):
    with pytest.raises(ValueError, match=message):
        expand_grid(spec)


ZIPF_KEYS = ", ".join(KINDS["zipf"].all_parameters)


@pytest.mark.parametrize(
    "spec",
    [
        {"base": {"tokens": 10, "corpus": {"kind": "zipf", "n_states": 8}}},
        {"base": {"tokens": 10, "corpus": {"kind": "zipf"}}, "axes": {"corpus.n_states": [4, 8]}},
        {"base": {"tokens": 10}, "axes": {"corpus": [{"kind": "markov_icl", "n_states": 4}, {"n_states": 4}]}},
    ],
)
def test_a_corpus_key_its_kind_does_not_have_is_named_with_the_keys_it_accepts(spec):
    message = f"grid: corpus: 'n_states' is not a parameter of the 'zipf' corpus; it accepts: {ZIPF_KEYS}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        expand_grid(spec)


def test_a_grid_file_with_a_foreign_corpus_key_fails_naming_the_file_and_the_key(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(TINY_GRID.format(tokens=2048, widths=[8]).replace('n_rules = 50', 'n_rules = 50\nn_states = 4'))
    with pytest.raises(ValueError, match=re.escape(f"{path}: corpus: 'n_states' is not a parameter of the 'zipf' corpus")):
        load_grid(path)
    pretrain = {"base": {"tokens": 10, "pretrain_tokens": 10, "pretrain_corpus": {"kind": "stdlib", "n_rules": 5}}}
    with pytest.raises(ValueError, match="^grid: pretrain_corpus: 'n_rules' is not a parameter of the 'stdlib' corpus"):
        expand_grid(pretrain)


def test_a_files_corpus_with_a_missing_path_fails_before_any_run(tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(scalinglab.sweep, "train", lambda config: trained.append(config) or pytest.fail("a run started"))
    runnable = TrainConfig(model=GPTConfig(n_layer=1, n_head=2, d_model=8, n_ctx=16), tokens=2048, batch_size=4,
                           corpus=CorpusConfig(kind="zipf", n_tokens=20_000, n_rules=50), n_evals=1, eval_tokens=256)
    missing = tmp_path / "notes" / "missing.txt"
    configs = [runnable, TrainConfig(tokens=2048, corpus=CorpusConfig(kind="files", paths=[str(missing)]))]
    with pytest.raises(ValueError, match=re.escape(f"paths: {str(missing)!r} is not a file")):
        run_sweep(configs, tmp_path / "store", progress=False)
    pretrain_missing = TrainConfig(tokens=2048, pretrain_tokens=1024,
                                   pretrain_corpus=CorpusConfig(kind="files", paths=[str(missing)]))
    with pytest.raises(ValueError, match="missing.txt"):
        run_sweep([runnable, pretrain_missing], tmp_path / "store", progress=False)
    assert not trained and not (tmp_path / "store").exists()  # no run, no store, no record
    grid = tmp_path / "files.toml"
    grid.write_text(f'[base]\ntokens = 2048\n[base.corpus]\nkind = "files"\npaths = [{str(missing)!r}]\n')
    assert main(["sweep", str(grid), "--out", str(tmp_path / "store"), "--quiet"]) == 2
    assert not (tmp_path / "store").exists()


def test_bad_grid_file_fails_before_any_run(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(TINY_GRID.format(tokens=2048, widths=[8, 16]) + 'lr = ["fast"]\n')
    with pytest.raises(ValueError, match="lr must be a finite number"):
        load_grid(path)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert not (tmp_path / "out").exists()
    path.write_text("[base\n")
    with pytest.raises(ValueError, match="is not valid TOML"):
        load_grid(path)


def test_sweep_records_runs_and_skips_them_on_restart(tmp_path):
    configs = load_grid(write_grid(tmp_path))
    first = run_sweep(configs, tmp_path / "store", progress=False)
    assert len(first.finished) == 2 and not first.failed
    again = run_sweep(configs, tmp_path / "store", progress=False)
    assert len(again.skipped) == 2 and not again.finished
    table = load_table(tmp_path / "store")
    assert len(table) == 2
    assert sorted(table.column("config.model.d_model")) == [8, 16]
    small, large = (table.where({"config.model.d_model": d}).column("result.n_params")[0] for d in (8, 16))
    assert small < large
    assert set(table.column("run_id")) == {c.config_hash() for c in configs} == set(first.finished)
    record = ResultsStore(tmp_path / "store").get(table.runs[0].run_id)
    for key in ("device", "torch_version", "scalinglab_version", "git_commit", "date", "wall_seconds"):
        assert key in record["provenance"]
    assert record["config"]["model"]["n_ctx"] == 16 and "config" not in record["result"]
    assert table.results[0].config == TrainConfig.from_dict(record["config"])


def test_show_prints_a_table(tmp_path, capsys):
    run_sweep(load_grid(write_grid(tmp_path, widths=(8,))), tmp_path / "store", progress=False)
    assert main(["show", str(tmp_path / "store")]) == 0
    out = capsys.readouterr().out
    assert "1 runs" in out and "zipf" in out and "bits/B" in out
    assert main(["show", str(tmp_path)]) == 2


def test_resume_after_sigkill_loses_no_finished_run(tmp_path):
    grid = write_grid(tmp_path, widths=(8, 12, 16, 20), tokens=12288)
    store_path = tmp_path / "store"
    command = [sys.executable, "-m", "scalinglab", "sweep", str(grid), "--out", str(store_path), "--quiet"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600  # generous: a loaded machine is slow to finish the first run
    while time.monotonic() < deadline and not list((store_path / "runs").glob("*.json")):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    survivors = {p.name: p.read_bytes() for p in (store_path / "runs").glob("*.json")}
    assert 1 <= len(survivors) < 4, "the kill should land while the sweep is still running"
    ResultsStore(store_path).load()  # every surviving record is whole

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{4 - len(survivors)} finished, {len(survivors)} already recorded, 0 failed" in resumed.stderr
    for name, content in survivors.items():
        assert (store_path / "runs" / name).read_bytes() == content  # not re-done
    assert len(ResultsStore(store_path)) == 4


def test_two_run_sweep_on_a_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    configs = load_grid(write_grid(tmp_path))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            summary = run_sweep(configs, tmp_path / "store", executor=client.get_executor(),
                                threads_per_run=1, progress=False)
            worker_pids = set(client.run(os.getpid).values())
    assert len(summary.finished) == 2 and not summary.failed
    assert os.getpid() not in worker_pids
    assert len(load_table(tmp_path / "store")) == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers die with their parent only on Linux")
def test_process_pool_workers_die_with_a_killed_sweep(tmp_path):
    grid = write_grid(tmp_path, widths=(8, 12, 16, 20), tokens=12288)
    command = [sys.executable, "-m", "scalinglab", "sweep", str(grid), "--out", str(tmp_path / "store"),
               "--executor", "process", "--workers", "2", "--quiet"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    children_file = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(children_file.read_text().split()) < 2:
        time.sleep(0.05)
    workers = {int(pid) for pid in children_file.read_text().split()}

    def running() -> set[int]:
        return {pid for pid in workers if Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"}

    while time.monotonic() < deadline and not list((tmp_path / "store" / "runs").glob("*.json")):
        time.sleep(0.05)  # a finished run: the workers are set up and training
    assert running() == workers, "the workers should be alive and training before the kill"
    assert process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    time.sleep(1.0)
    assert not running(), f"orphaned workers still running: {running()}"


def test_cli_sweep_on_a_process_pool(tmp_path):
    grid = write_grid(tmp_path)
    done = subprocess.run([sys.executable, "-m", "scalinglab", "sweep", str(grid), "--out", str(tmp_path / "store"),
                           "--executor", "process", "--workers", "2", "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "2 finished, 0 already recorded, 0 failed" in done.stderr
    assert {p["torch_threads"] for p in load_table(tmp_path / "store").provenance} == {max(1, (os.cpu_count() or 1) // 2)}


def test_each_worker_of_a_process_pool_takes_the_next_gpu(monkeypatch):
    from multiprocessing import get_context

    from scalinglab import sweep as sweep_module

    monkeypatch.setattr(sweep_module, "die_with_parent", lambda: None)
    counter = get_context("spawn").Value("i", 0)
    seen = []
    for _ in range(5):
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        sweep_module.init_worker(counter, ("2", "3"))
        seen.append(os.environ["CUDA_VISIBLE_DEVICES"])
    assert seen == ["2", "3", "2", "3", "2"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    sweep_module.init_worker(counter, ())  # no GPU: nothing is set
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_process_pool_shares_out_the_visible_gpus(monkeypatch):
    from scalinglab.sweep import process_pool

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    with process_pool(2) as pool:
        assert pool._initargs[1] == ("4", "6") and pool._mp_context.get_start_method() == "spawn"
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        process_pool(0)


def test_a_fork_based_pool_is_refused_once_cuda_is_initialised(monkeypatch, tmp_path):
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    import torch

    from scalinglab.sweep import check_executor

    fork_pool = ProcessPoolExecutor(1, mp_context=get_context("fork"))
    spawn_pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
    try:
        check_executor(fork_pool)  # no CUDA yet: forking is fine
        monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
        with pytest.raises(ValueError, match="fork-based process pool cannot use CUDA"):
            check_executor(fork_pool)
        check_executor(spawn_pool)
        with pytest.raises(ValueError, match="fork-based"):
            run_sweep([TrainConfig(tokens=1024)], tmp_path / "store", executor=fork_pool, progress=False)
        assert not (tmp_path / "store").exists()
    finally:
        fork_pool.shutdown()
        spawn_pool.shutdown()


def test_a_grid_reuses_the_runs_another_store_holds_and_trains_only_the_rest(tmp_path):
    configs = load_grid(write_grid(tmp_path))
    run_sweep(configs[:1], tmp_path / "scan", progress=False)  # the "scan" holds the first run
    grid = tmp_path / "ladder.toml"
    grid.write_text('[protocol]\nreuse_from = "scan"\n' + (tmp_path / "grid.toml").read_text())
    assert scalinglab.sweep.reuse_store(grid) == tmp_path / "scan"
    assert load_grid(grid) == configs  # the configs are the grid's own
    summary = run_sweep(load_grid(grid), tmp_path / "ladder", progress=False,
                        reuse_from=scalinglab.sweep.reuse_store(grid))
    assert summary.copied == (configs[0].config_hash(),) and summary.finished == (configs[1].config_hash(),)
    assert "1 copied" in str(summary)
    copied = ResultsStore(tmp_path / "ladder").get(configs[0].config_hash())
    original = ResultsStore(tmp_path / "scan").get(configs[0].config_hash())
    assert copied["result"] == original["result"] and copied["provenance"]["copied_from"] == "scan"
    again = run_sweep(load_grid(grid), tmp_path / "ladder", progress=False, reuse_from=tmp_path / "scan")
    assert len(again.skipped) == 2 and not again.copied
    grid.write_text('[protocol]\nreuse_from = "nowhere"\n' + (tmp_path / "grid.toml").read_text())
    with pytest.raises(ValueError, match="protocol.reuse_from: .*nowhere is not a results store"):
        load_grid(grid)
