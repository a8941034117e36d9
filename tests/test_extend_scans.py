"""Tests of scalinglab.extend_scans and ``python -m scalinglab extend-scans``: a scan whose best
rate is at an edge gets the next rate past it, as a grid block that makes exactly that run."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.__main__ import main
from scalinglab.extend_scans import append_blocks, scan_extensions
from scalinglab.runs import run_record
from scalinglab.store import ResultsStore
from scalinglab.sweep import load_grid

GRID = """\
[base]
tokens = 4096
batch_size = 32
[base.model]
arch = "gpt"
n_layer = 2
n_head = 2
n_ctx = 64
[base.corpus]
kind = "zipf"
n_tokens = 60_000
n_rules = 8

[[axes]]
"model.d_model" = [16, 64]
lr = [1e-3, 2e-3, 4e-3]
seed = [0, 1]
"""
BEST = {16: 8e-3, 64: 2e-3}
"""Each width's true best rate: d_model 16's lies past the largest rate scanned."""


def record(grid, store_path, fake_result, best=BEST):
    """Record every run of the grid the store lacks, the loss a parabola in log lr about ``best``
    (NaN, a diverged run, where ``best`` gives None)."""
    store = ResultsStore(store_path, create=True)
    for config in load_grid(grid):
        if not store.has(config.config_hash()):
            centre = best[config.model.d_model]
            loss = float("nan") if centre is None else 1.0 + 0.1 * np.log(config.lr / centre) ** 2
            store.put(run_record(fake_result(config, loss=loss), {"device": "cpu", "date": "2026-01-01"}))
    return store_path


def recorded(tmp_path, fake_result, text=GRID, best=BEST):
    """The grid file and a store of its runs."""
    grid = tmp_path / "scan.toml"
    grid.write_text(text)
    return grid, record(grid, tmp_path / "scan", fake_result, best)


def test_an_edge_scan_gets_the_next_rate_for_each_of_its_seeds(tmp_path, fake_result):
    grid, store = recorded(tmp_path, fake_result)
    extensions = scan_extensions(grid, store).extensions
    found = sorted((e.config.model.d_model, e.config.lr, e.config.seed) for e in extensions)
    assert found == [(16, pytest.approx(8e-3), 0), (16, pytest.approx(8e-3), 1)]
    assert all(e.edge_lr == pytest.approx(4e-3) for e in extensions)
    text = append_blocks(grid, extensions)
    assert text.count("[[axes]]") == 2 and "best lr 0.004 sat at the edge" in text
    assert '"model.d_model" = [16]\nlr = [0.008]\nseed = [0]\n' in text
    configs = load_grid(grid)
    assert len(configs) == 14 and {c.config_hash() for c in configs} >= {e.config.config_hash() for e in extensions}
    plan = scan_extensions(grid, store)
    assert plan.extensions == [] and plan.n_pending == 2  # planned, not yet recorded: not proposed again
    record(grid, store, fake_result, {16: 1.2e-2, 64: 2e-3})  # the true best moved further out
    assert [e.config.lr for e in scan_extensions(grid, store).extensions] == [pytest.approx(1.6e-2)] * 2


def test_the_lower_edge_a_single_axes_table_and_a_diverged_run(tmp_path, fake_result):
    # d_model 16 diverges at every rate (so the next try is a lower one); d_model 64's best
    # lies below the scan
    text = GRID.replace("[[axes]]", "[axes]")
    grid, store = recorded(tmp_path, fake_result, text, {16: None, 64: 1e-4})
    extensions = scan_extensions(grid, store).extensions
    found = sorted((e.config.model.d_model, e.config.lr) for e in extensions)
    assert found == [(16, pytest.approx(5e-4))] * 2 + [(64, pytest.approx(5e-4))] * 2
    append_blocks(grid, extensions)
    assert grid.read_text().count("[[axes]]") == 5 and "[axes]" not in grid.read_text().replace("[[axes]]", "")
    assert len(load_grid(grid)) == 16


def test_the_command_appends_and_says_so(tmp_path, fake_result, capsys):
    grid, store = recorded(tmp_path, fake_result)
    assert main(["extend-scans", str(grid), "--store", str(store)]) == 0
    assert "appended 2 runs" in capsys.readouterr().out
    assert main(["extend-scans", str(grid), "--store", str(store)]) == 0
    assert "2 planned runs not yet in" in capsys.readouterr().out
    # the new runs' loss (0.19 at 8e-3) is above 4e-3's (0.05): 4e-3 is best after all, interior
    record(grid, store, fake_result, {16: 2e-3, 64: 2e-3})
    assert main(["extend-scans", str(grid), "--store", str(store)]) == 0
    assert "every scan's best rate is interior" in capsys.readouterr().out


def test_bad_requests_are_refused_by_name(tmp_path, fake_result):
    grid, store = recorded(tmp_path, fake_result)
    for factor in (1.0, float("inf")):
        with pytest.raises(ValueError, match="^factor must be a finite number above 1"):
            scan_extensions(grid, store, factor=factor)
    with pytest.raises(ValueError, match="^match must not name config.lr"):
        scan_extensions(grid, store, match=("config.model", "config.lr"))
    with pytest.raises(ValueError, match="^grid file .*missing.toml cannot be read"):
        scan_extensions(tmp_path / "missing.toml", store)
    ladder = tmp_path / "ladder.toml"
    ladder.write_text(GRID.replace("lr = [1e-3, 2e-3, 4e-3]\n", "") + '[protocol]\nlr_from = "scan"\n')
    with pytest.raises(ValueError, match="takes its rates from a scan"):
        scan_extensions(ladder, store)
    edited = tmp_path / "edited.toml"
    edited.write_text(GRID.replace("tokens = 4096", "tokens = 8192"))
    plan = scan_extensions(edited, store)
    assert plan.extensions == [] and plan.n_pending == 12  # its runs are not recorded: nothing is extended yet
