"""A book build in one mode never reuses pages executed in the other (book/_ext/mode_cache.py).

The extension is checked on a Sphinx ``Config`` and a stand-in for the application, without
building the book.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from sphinx.config import Config

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("mode_cache", ROOT / "book" / "_ext" / "mode_cache.py")
mode_cache = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mode_cache)


def sphinx_config(cache_path: str = "") -> Config:
    """A Sphinx configuration holding the two values the extension reads and sets."""
    config = Config({"nb_execution_cache_path": cache_path} if cache_path else {})
    config.add("nb_execution_cache_path", "", "env", ())  # as MyST-NB registers it
    config.add(mode_cache.MODE_CONFIG, "fast", "env", [str])  # as the extension's setup does
    config.init_values()
    return config


def configured(monkeypatch, tmp_path: Path, mode: str | None, cache_path: str = "") -> Config:
    """The configuration after the extension's ``config-inited`` handler, in ``mode``."""
    if mode is None:
        monkeypatch.delenv("SCALINGLAB_MODE", raising=False)
    else:
        monkeypatch.setenv("SCALINGLAB_MODE", mode)
    app = SimpleNamespace(outdir=tmp_path / "_build" / "html", confdir=tmp_path, srcdir=tmp_path)
    config = sphinx_config(cache_path)
    mode_cache.separate_caches_by_mode(app, config)
    return config


def test_each_mode_has_its_own_execution_cache_next_to_the_html(monkeypatch, tmp_path):
    fast = configured(monkeypatch, tmp_path, "fast")
    full = configured(monkeypatch, tmp_path, "full")
    default = configured(monkeypatch, tmp_path, None)
    cache = tmp_path.resolve() / "_build" / ".jupyter_cache"
    assert fast.nb_execution_cache_path == str(cache / "fast")
    assert full.nb_execution_cache_path == str(cache / "full")
    assert default.nb_execution_cache_path == fast.nb_execution_cache_path
    assert fast.nb_execution_cache_path != full.nb_execution_cache_path


def test_a_cache_set_in_the_book_config_is_split_by_mode_too(monkeypatch, tmp_path):
    fast = configured(monkeypatch, tmp_path, "fast", str(tmp_path / "my_cache"))
    full = configured(monkeypatch, tmp_path, "full", str(tmp_path / "my_cache"))
    assert fast.nb_execution_cache_path == str(tmp_path.resolve() / "my_cache" / "fast")
    assert full.nb_execution_cache_path == str(tmp_path.resolve() / "my_cache" / "full")


def test_the_mode_is_a_config_value_that_makes_sphinx_reread_every_page(monkeypatch, tmp_path):
    for mode in ("fast", "full"):
        config = configured(monkeypatch, tmp_path, mode)
        env_values = {item.name: item.value for item in config.filter(frozenset({"env"}))}
        # Sphinx compares these with the saved environment's and re-reads every page when
        # one differs (sphinx.environment.BuildEnvironment._update_config).
        assert env_values[mode_cache.MODE_CONFIG] == mode
    calls = []
    app = SimpleNamespace(
        setup_extension=lambda name: calls.append(("setup_extension", name)),
        add_config_value=lambda name, default, rebuild, types=(): calls.append(("value", name, rebuild)),
        connect=lambda event, handler: calls.append(("connect", event, handler)),
    )
    metadata = mode_cache.setup(app)
    assert ("value", mode_cache.MODE_CONFIG, "env") in calls
    assert ("connect", "config-inited", mode_cache.separate_caches_by_mode) in calls
    assert ("connect", "build-finished", mode_cache.record_mode) in calls
    assert metadata["parallel_read_safe"]


def test_an_unknown_mode_stops_the_build_naming_the_variable(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="SCALINGLAB_MODE must be one of 'fast', 'full', got 'medium'"):
        configured(monkeypatch, tmp_path, "medium")


def test_the_book_loads_the_extension():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"]["mode_cache"] == "book/_ext"
    assert config["execute"]["execute_notebooks"] == "cache"


def test_a_finished_build_records_its_mode_beside_the_executed_notebooks(monkeypatch, tmp_path):
    executed = tmp_path / "_build" / "jupyter_execute"
    executed.mkdir(parents=True)
    config = configured(monkeypatch, tmp_path, "full")
    app = SimpleNamespace(outdir=tmp_path / "_build" / "html", config=config)
    mode_cache.record_mode(app, RuntimeError("the build failed"))
    assert not (executed / mode_cache.MODE_FILE).exists()
    mode_cache.record_mode(app, None)
    assert (executed / mode_cache.MODE_FILE).read_text() == "full\n"


def test_nbval_takes_the_books_notebooks_only_when_they_ran_in_its_mode(monkeypatch, tmp_path):
    root_spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    root_conftest = importlib.util.module_from_spec(root_spec)
    root_spec.loader.exec_module(root_conftest)
    source = tmp_path / "chapter.md"
    source.write_text("")
    book = tmp_path / "book"
    book.mkdir()
    mode_file = tmp_path / "MODE"
    monkeypatch.setattr(root_conftest, "BOOK_EXECUTED_DIR", book)
    monkeypatch.setattr(root_conftest, "BOOK_MODE_FILE", mode_file)
    monkeypatch.setattr(root_conftest, "REFERENCE_ROOT", tmp_path / "reference")
    executed_in_book = {"cells": [], "metadata": {"from": "book"}, "nbformat": 4, "nbformat_minor": 5}
    import nbformat

    nbformat.write(nbformat.from_dict(executed_in_book), book / "chapter.ipynb")
    fresh_runs = []
    monkeypatch.setattr(root_conftest, "_execute", lambda notebook, workdir: fresh_runs.append(1) or notebook)
    monkeypatch.setattr(root_conftest.jupytext, "read", lambda path: nbformat.v4.new_notebook())
    mode_file.write_text("fast\n")
    monkeypatch.setenv("SCALINGLAB_MODE", "fast")
    assert root_conftest.reference_notebook(source).metadata["from"] == "book"
    monkeypatch.setenv("SCALINGLAB_MODE", "full")
    root_conftest.reference_notebook(source)
    assert fresh_runs == [1]
    assert (tmp_path / "reference" / "full" / "chapter.ipynb").exists()
