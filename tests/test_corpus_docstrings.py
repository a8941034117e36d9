"""Tests of the ``"docstrings"`` corpus kind: the installed packages' docstrings, one document a
module. All but one test read a fake environment of a few packages in a temporary directory
(:func:`~scalinglab.corpora.docstrings.source_roots` replaced); the last reads the real one
(quick once its disk cache exists)."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from scalinglab.corpora import CorpusConfig, check_available, clear_cache, corpus_identity, decode, make_corpus
from scalinglab.cache import CACHE_ENV
from scalinglab.corpora import docstrings
from scalinglab.corpora.stdlib import _docstrings, stdlib_paths
from scalinglab.runs import TrainConfig


def _sentence(topic: str, i: int) -> str:
    return f"The {topic} helper number {i} turns its input into a tidy result and says so plainly."


def _module(topic: str, n_functions: int) -> str:
    """A module whose docstrings total about 90 bytes a function (each well over 40 characters)."""
    lines = [f'"""Module about {topic}: {_sentence(topic, 0)}"""', ""]
    for i in range(1, n_functions + 1):
        lines += [f"def {topic}_{i}(x):", f'    """{_sentence(topic, i)}"""', "    return x", ""]
    lines += [f"class {topic.title()}:", f'    """{_sentence(topic, 99)}"""', ""]
    return "\n".join(lines)


def _write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _dist_info(root: Path, name: str, version: str, record: list[str] = (), top_level: str | None = None) -> None:
    info = root / f"{name}-{version}.dist-info"
    _write(root, f"{info.name}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if record:
        _write(root, f"{info.name}/RECORD", "".join(f"{r},,\n" for r in record))
    if top_level is not None:
        _write(root, f"{info.name}/top_level.txt", top_level + "\n")


KEPT = ("alpha/__init__.py", "alpha/core.py", "beta.py")
"""The fake environment's modules with at least 512 bytes of docstrings, in corpus order."""


@pytest.fixture
def fake_env(tmp_path, monkeypatch):
    """A site-packages of fake packages (its root), read instead of the real one, with its
    own cache directory."""
    root = tmp_path / "venv" / "lib" / "site-packages"
    _write(root, "alpha/__init__.py", _module("alpha", 8))
    _write(root, "alpha/core.py", _module("core", 20))
    _write(root, "alpha/short.py", _module("short", 2))  # under 512 bytes of docstrings
    _write(root, "alpha/empty.py", "x = 1\n")
    _write(root, "alpha/broken.py", "def (:\n")  # unparsable: no document
    _write(root, "alpha/tests/test_core.py", _module("tested", 20))
    _write(root, "alpha/sub/test/helpers.py", _module("helped", 20))
    _write(root, "beta.py", _module("beta", 12))
    _write(root, "scalinglab/__init__.py", _module("ours", 20))
    _write(root, "__editable___scalinglab_0_1_finder.py", _module("finder", 20))
    _write(root, "own_helper.py", _module("helper", 20))  # scalinglab's, by its RECORD
    _dist_info(root, "alpha", "1.2", record=["alpha/__init__.py", "alpha/core.py", "alpha/short.py"])
    _dist_info(root, "beta", "0.3", top_level="beta")  # no RECORD: found by its top-level name
    _dist_info(root, "scalinglab", "0.1.0", record=["own_helper.py"])
    monkeypatch.setattr(docstrings, "source_roots", lambda: (root,))
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    clear_cache()
    yield root
    clear_cache()


def _expected(root: Path, relative: str) -> str:
    return "\n\n".join(_docstrings(root / relative)) + "\n"


def _documents(tokens: np.ndarray, starts: np.ndarray) -> list[str]:
    ends = list(starts[1:]) + [len(tokens)]
    return [decode(tokens[a:b]) for a, b in zip(starts, ends)]


def test_one_document_per_module_in_sorted_order_without_tests_or_scalinglab(fake_env):
    ex = docstrings.extraction()
    used = [path.relative_to(fake_env).as_posix() for path in docstrings._files_used(ex, 512)]
    assert used == list(KEPT)
    documents = [decode(ex.document(i)) for i in docstrings._kept(ex, 512)]
    assert documents == [_expected(fake_env, relative) for relative in KEPT]
    read = {f.relative for f in ex.files}
    assert "alpha/short.py" in read and not {"own_helper.py", "__editable___scalinglab_0_1_finder.py"} & read
    assert not any(part in ("tests", "test", "scalinglab") for name in read for part in name.split("/"))
    # A smaller minimum keeps the short module too.
    assert [p.name for p in docstrings._files_used(ex, 100)] == ["__init__.py", "core.py", "short.py", "beta.py"]


def test_builds_are_deterministic_and_every_document_is_long_enough(fake_env, tmp_path, monkeypatch):
    config = CorpusConfig(kind="docstrings", n_tokens=docstrings.available_tokens(), val_fraction=0.34)
    corpus = make_corpus(config)
    clear_cache()
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "another_cache"))  # read from the files again
    again = make_corpus(CorpusConfig.from_dict(config.to_dict()))
    assert again is not corpus
    for name in ("train_tokens", "val_tokens", "train_document_starts", "val_document_starts"):
        assert np.array_equal(getattr(again, name), getattr(corpus, name)), name
    for minimum in (200, 512, 1000):
        for n_tokens in (1500, 2500, docstrings.available_tokens(minimum)):
            config = CorpusConfig(kind="docstrings", n_tokens=n_tokens, min_document_tokens=minimum)
            built = docstrings._documents(config)
            assert built and all(len(d) >= minimum for d in built), (minimum, n_tokens)
            assert sum(map(len, built)) <= n_tokens


def test_the_split_is_by_whole_documents(fake_env):
    corpus = make_corpus(CorpusConfig(kind="docstrings", n_tokens=docstrings.available_tokens(), val_fraction=0.34))
    train = _documents(corpus.train_tokens, corpus.train_document_starts)
    val = _documents(corpus.val_tokens, corpus.val_document_starts)
    assert len(train) == 2 and len(val) == 1
    assert sorted(train + val) == sorted(_expected(fake_env, relative) for relative in KEPT)
    assert "docstrings of the installed packages" in corpus.describe()


def test_n_tokens_caps_the_corpus_and_cuts_the_last_document(fake_env):
    first = len(_expected(fake_env, KEPT[0]).encode())
    corpus = make_corpus(CorpusConfig(kind="docstrings", n_tokens=first + 600, val_fraction=0.5))
    assert len(corpus.train_tokens) + len(corpus.val_tokens) == first + 600
    # A cut below min_document_tokens drops the piece instead.
    pieces = docstrings._documents(CorpusConfig(kind="docstrings", n_tokens=first + 100))
    assert [len(p) for p in pieces] == [first]


def test_identity_is_stable_and_changes_with_a_source_file(fake_env):
    config = CorpusConfig(kind="docstrings", n_tokens=1000)
    identity = corpus_identity(config)
    ex = docstrings.extraction()
    kept = b"".join(bytes(ex.document(i)) for i in docstrings._kept(ex, 512))
    assert identity["n_documents"] == 3 and identity["n_bytes"] == len(kept) == docstrings.available_tokens()
    assert identity["n_files"] == 6  # alpha's five, beta.py, and none of the left-out ones
    assert identity["packages"] == {"alpha": "1.2", "beta": "0.3"}
    assert identity == corpus_identity(config.replace(n_tokens=2000, seed=5))  # before the cap, whatever the split
    clear_cache()
    assert corpus_identity(config) == identity
    assert corpus_identity(config.replace(min_document_tokens=100))["n_documents"] == 4
    assert corpus_identity(CorpusConfig(kind="zipf")) is None

    core = fake_env / "alpha" / "core.py"
    core.write_text(core.read_text() + 'def extra():\n    """A brand new function, documented at length."""\n')
    assert corpus_identity(config) == identity  # this process keeps the corpus it has ...
    clear_cache()
    changed = corpus_identity(config)  # ... until asked to look again
    assert changed["sha256"] != identity["sha256"] and changed["n_bytes"] > identity["n_bytes"]


def test_the_disk_cache_serves_a_second_build_and_is_rebuilt_when_a_file_changes(fake_env, tmp_path, monkeypatch):
    config = CorpusConfig(kind="docstrings", n_tokens=2000)
    first = make_corpus(config)
    assert list((tmp_path / "cache").glob("docstrings-*.npz")) and not list((tmp_path / "cache").glob("*.tmp"))
    clear_cache()  # as in a new process

    def no_reading(path):
        raise AssertionError(f"read {path} despite the cache")

    monkeypatch.setattr(docstrings, "_read", no_reading)
    cached = make_corpus(config)
    assert np.array_equal(cached.train_tokens, first.train_tokens)

    # A changed file is read again, and only it.
    read = []
    monkeypatch.setattr(docstrings, "_read", lambda path: read.append(path) or docstrings_read(path))
    beta = fake_env / "beta.py"
    beta.write_text(_module("gamma", 12), encoding="utf-8")
    os.utime(beta, ns=(beta.stat().st_atime_ns, beta.stat().st_mtime_ns + 10**9))
    clear_cache()
    changed = docstrings.extraction()
    assert read == [str(beta)]
    assert "gamma" in decode(changed.document(docstrings._kept(changed, 512)[-1]))
    clear_cache()
    read.clear()
    docstrings.extraction()  # and cached again
    assert read == []


docstrings_read = docstrings._read


def test_many_files_are_read_in_parallel_with_the_same_result(fake_env, monkeypatch):
    paths = [str(path) for path in sorted(fake_env.rglob("*.py"))]
    serial = docstrings._read_all(paths)
    monkeypatch.setattr(docstrings, "_PARALLEL_MIN_FILES", 1)
    parallel = docstrings._read_all(paths)
    assert len(parallel) == len(paths) and sum(d is not None for d in serial) >= 5
    assert all((a is None and b is None) or np.array_equal(a, b) for a, b in zip(serial, parallel))


def test_a_damaged_cache_is_rebuilt(fake_env, tmp_path):
    identity = corpus_identity(CorpusConfig(kind="docstrings"))
    (cache,) = (tmp_path / "cache").glob("docstrings-*.npz")
    cache.write_bytes(b"not a zip file")
    clear_cache()
    assert corpus_identity(CorpusConfig(kind="docstrings")) == identity


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"min_document_tokens": 0}, "min_document_tokens must be a positive integer, got 0"),
        ({"min_document_tokens": 1.5}, "min_document_tokens must be a positive integer, got 1.5"),
        ({"min_document_tokens": 4096, "n_tokens": 1000},
         r"min_document_tokens must be at most n_tokens \(1000\), got 4096"),
        ({"document_unit": "module"}, "'document_unit' is not a parameter of the 'docstrings' corpus"),
    ],
)
def test_bad_parameters_are_clear_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        CorpusConfig(kind="docstrings", **settings)


def test_more_tokens_than_the_environment_holds_is_a_clear_error(fake_env):
    available = docstrings.available_tokens()
    config = CorpusConfig(kind="docstrings", n_tokens=available + 1)
    rule = (f"^n_tokens must be at most {available}, the bytes of docstrings in modules of at least "
            "min_document_tokens=512")
    with pytest.raises(ValueError, match=rule + f".* got {available + 1}$"):
        check_available(config)
    with pytest.raises(ValueError, match=rule):
        make_corpus(config)
    check_available(config.replace(n_tokens=available))


def test_the_provenance_of_a_run_holds_the_corpus_identity(fake_env, fake_result):
    from scalinglab.sweep import provenance

    corpus = CorpusConfig(kind="docstrings", n_tokens=2000)
    record = provenance(fake_result(TrainConfig(corpus=corpus, tokens=4096)))
    assert record["corpus_identity"] == corpus_identity(corpus) and "pretrain_corpus_identity" not in record
    pretrained = TrainConfig(corpus=CorpusConfig(kind="zipf"), tokens=4096,
                             pretrain_corpus=corpus, pretrain_tokens=2048)
    record = provenance(fake_result(pretrained))
    assert record["pretrain_corpus_identity"] == corpus_identity(corpus) and "corpus_identity" not in record
    assert "corpus_identity" not in provenance(fake_result(dataclasses.replace(pretrained, pretrain_corpus=None,
                                                                                pretrain_tokens=None)))


def test_the_real_environment_gives_a_large_corpus_of_third_party_docstrings():
    """The packages installed here (read once, then from the disk cache in every process)."""
    clear_cache()
    roots = docstrings.source_roots()
    assert roots and all(root.is_relative_to(Path(sys.prefix).resolve()) for root in roots)
    ex = docstrings.extraction()
    used = list(docstrings._files_used(ex, 512))
    assert len(used) > 100 and not set(used) & set(stdlib_paths())
    for path in used:
        (parts,) = [path.relative_to(root).parts for root in roots if path.is_relative_to(root)]
        assert parts[0] not in ("scalinglab", "scalinglab.py") and not {"test", "tests"} & set(parts[:-1]), path
    identity = corpus_identity(CorpusConfig(kind="docstrings"))
    assert identity["n_bytes"] == docstrings.available_tokens() > 1_000_000
    assert "numpy" in identity["packages"] and "scalinglab" not in identity["packages"]
    corpus = make_corpus(CorpusConfig(kind="docstrings", n_tokens=200_000))
    assert len(corpus.train_tokens) + len(corpus.val_tokens) <= 200_000
    assert np.all(np.diff(np.append(corpus.train_document_starts, len(corpus.train_tokens))) >= 512)


def test_package_code_is_the_same_modules_source_without_their_docstrings(fake_env, tmp_path):
    code = docstrings.extraction("code")
    sources = [decode(code.document(i)) for i in docstrings._kept(code, 64)]
    files = [code.files[code.file_of[i]].relative for i in docstrings._kept(code, 64)]
    # Every module with at least 64 bytes of source is a document (the short one too), but
    # not the tests, scalinglab's own files, the unparsable one or the 6-byte one; no
    # docstring is left.
    assert files == ["alpha/__init__.py", "alpha/core.py", "alpha/short.py", "beta.py"]
    assert all("tidy result" not in source for source in sources)
    assert any("def core_3(x):" in source and "return x" in source for source in sources)
    # Its own cache file, beside the docstrings' one, and a kind of its own.
    docstrings.extraction()
    assert {p.name.split("-")[0] for p in (tmp_path / "cache").glob("*.npz")} == {"docstrings", "package"}
    n = docstrings.available_tokens(64, content="code")
    corpus = make_corpus(CorpusConfig(kind="package_code", n_tokens=n, min_document_tokens=64, val_fraction=0.34))
    assert len(corpus.train_tokens) + len(corpus.val_tokens) == n
    assert corpus_identity(CorpusConfig(kind="package_code", n_tokens=n, min_document_tokens=64))["n_bytes"] == n
    with pytest.raises(ValueError, match=r"n_tokens must be at most .*source \(docstrings removed\)"):
        check_available(CorpusConfig(kind="package_code", n_tokens=n + 1, min_document_tokens=64))
