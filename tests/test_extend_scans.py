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


def recorded(tmp_path, fake_result):
    """The grid file and a store of its runs, the loss a parabola in log lr about BEST."""
    grid = tmp_path / "scan.toml"
    grid.write_text(GRID)
    store = ResultsStore(tmp_path / "scan", create=True)
    for config in load_grid(grid):
        loss = 1.0 + 0.1 * np.log(config.lr / BEST[config.model.d_model]) ** 2
        store.put(run_record(fake_result(config, loss=float(loss)), {"device": "cpu", "date": "2026-01-01"}))
    return grid, tmp_path / "scan"


def test_an_edge_scan_gets_the_next_rate_for_each_of_its_seeds(tmp_path, fake_result):
    grid, store = recorded(tmp_path, fake_result)
    extensions = scan_extensions(grid, store)
    assert sorted((e.config.model.d_model, e.config.lr, e.config.seed) for e in extensions) == [(16, 8e-3, 0), (16, 8e-3, 1)]
    assert all(e.edge_lr == 4e-3 for e in extensions)
    text = append_blocks(grid, extensions)
    assert text.count("[[axes]]") == 2 and "best lr 0.004 sat at the edge" in text
    configs = load_grid(grid)
    assert len(configs) == 14 and {c.config_hash() for c in configs} >= {e.config.config_hash() for e in extensions}
    assert scan_extensions(grid, store) == []  # already in the grid: not proposed again


def test_the_command_appends_and_says_so(tmp_path, fake_result, capsys):
    grid, store = recorded(tmp_path, fake_result)
    assert main(["extend-scans", str(grid), "--store", str(store)]) == 0
    assert "appended 2 runs" in capsys.readouterr().out
    assert main(["extend-scans", str(grid), "--store", str(store)]) == 0
    assert "every scan's best rate is interior" in capsys.readouterr().out


def test_bad_requests_are_refused_by_name(tmp_path, fake_result):
    grid, store = recorded(tmp_path, fake_result)
    with pytest.raises(ValueError, match="^factor must be above 1"):
        scan_extensions(grid, store, factor=1.0)
    ladder = tmp_path / "ladder.toml"
    ladder.write_text(GRID.replace("lr = [1e-3, 2e-3, 4e-3]\n", "") + '[protocol]\nlr_from = "scan"\n')
    with pytest.raises(ValueError, match="takes its rates from a scan"):
        scan_extensions(ladder, store)
    edited = tmp_path / "edited.toml"
    edited.write_text(GRID.replace("tokens = 4096", "tokens = 8192"))
    with pytest.raises(ValueError, match="no \\[\\[axes\\]\\] block of .* makes the edge run"):
        scan_extensions(edited, store)
