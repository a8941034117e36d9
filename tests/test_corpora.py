"""Tests of scalinglab.corpora: the registry of kinds, CorpusConfig, Corpus, and the Zipf,
Markov, standard-library and files kinds (skills: test_skills.py; images, code and
arithmetic: test_modalities.py; fewshot: test_tasks.py)."""

from __future__ import annotations

import copy
import importlib
import json
import math
import pickle
import pkgutil
import re

import numpy as np
import pytest
import torch

import scalinglab.corpora
from scalinglab.corpora import (
    KINDS,
    MAX_TEXT_TOKENS,
    Corpus,
    CorpusConfig,
    check_available,
    clear_cache,
    corpus_kind,
    decode,
    encode,
    from_files,
    make_corpus,
)
from scalinglab.corpora.markov_icl import (
    bayes_optimal_loss_per_position,
    bayes_optimal_predictive,
    entropy_rate_nats,
    expected_entropy_rate_nats,
    sample_markov_documents,
)
from scalinglab.corpora.zipf import (
    noisy_letter_entropy_nats,
    zipf_entropy_rate_nats,
    zipf_id_length,
    zipf_probabilities,
    zipf_segment_tokens,
)

SMALL_ZIPF = CorpusConfig(kind="zipf", n_tokens=20_000, n_rules=50, seed=3)

KIND_MODULES = sorted(m.name for m in pkgutil.iter_modules(scalinglab.corpora.__path__) if m.name != "base")
GENERATED_KINDS = {"zipf", "markov_icl", "fewshot", "skills", "arithmetic", "shapes"}
"""Kinds that generate at least n_tokens (in whole documents); the others read or keep at most n_tokens."""


def _small_config(kind: str, tmp_path) -> CorpusConfig:
    """A config of ``kind`` with its defaults but for a small n_tokens (and, for files, a file)."""
    if kind == "files":
        path = tmp_path / "notes.txt"
        path.write_text("\n\n".join(f"Paragraph {i} says something about scaling." for i in range(40)), encoding="utf-8")
        return CorpusConfig(kind="files", paths=[str(path)], n_tokens=5_000)
    # (a package's module is long: a few of them, for a split by document)
    return CorpusConfig(kind=kind, n_tokens={"images": 20_000, "package_code": 300_000}.get(kind, 5_000))


# ---------------------------------------------------------------------------
# Tokens


def test_encode_decode_round_trip():
    text = "héllo, wörld\n"
    tokens = encode(text)
    assert tokens.dtype == np.uint8 and len(tokens) == len(text.encode("utf-8"))
    assert decode(tokens) == text
    assert decode(torch.from_numpy(tokens)) == text
    assert decode([0xFF]) == "\ufffd"


# ---------------------------------------------------------------------------
# The registry: one file a kind


def test_every_kind_file_registers_the_kind_named_after_it():
    assert set(KINDS) == set(KIND_MODULES) >= {"zipf", "markov_icl", "fewshot", "skills", "stdlib", "files", "code",
                                                "images", "arithmetic"}
    for name in KIND_MODULES:
        module = importlib.import_module(f"scalinglab.corpora.{name}")
        assert module.KIND is KINDS[name] is corpus_kind(name) and module.KIND.name == name


def test_an_unknown_kind_lists_the_registered_ones():
    with pytest.raises(ValueError, match=r"^kind must be one of .*, got 'wiki'$") as error:
        CorpusConfig(kind="wiki")
    assert all(repr(kind) in str(error.value) for kind in KINDS)
    with pytest.raises(ValueError, match="got 'wiki'"):
        corpus_kind("wiki")


@pytest.mark.parametrize("kind", KIND_MODULES)
def test_every_kind_builds_with_its_defaults_deterministically(kind, tmp_path):
    config = _small_config(kind, tmp_path)
    corpus = make_corpus(config)
    assert isinstance(corpus, Corpus) and corpus.config is config
    total = len(corpus.train_tokens) + len(corpus.val_tokens)
    assert total >= config.n_tokens if kind in GENERATED_KINDS else 0 < total <= config.n_tokens
    for tokens, starts in ((corpus.train_tokens, corpus.train_document_starts), (corpus.val_tokens, corpus.val_document_starts)):
        assert tokens.dtype == np.uint8 and starts.dtype == np.int64 and len(starts) >= 1
        assert starts[0] == 0 and np.all(np.diff(starts) > 0) and starts[-1] < len(tokens)  # no empty document
    spec = KINDS[kind]
    if spec.entropy_rate_nats is None:
        assert corpus.entropy_rate_nats is None
    else:
        assert 0 < corpus.entropy_rate_nats < math.log(256) and "entropy floor" in corpus.describe()
    assert spec.title in corpus.describe()
    # Deterministic: built again from scratch (not from the cache), the same tokens.
    clear_cache()
    again = make_corpus(CorpusConfig.from_dict(config.to_dict()))
    assert again is not corpus
    for name in ("train_tokens", "val_tokens", "train_document_starts", "val_document_starts"):
        assert np.array_equal(getattr(again, name), getattr(corpus, name)), name


# ---------------------------------------------------------------------------
# CorpusConfig


@pytest.mark.parametrize("kind", KIND_MODULES)
def test_corpus_config_round_trips_through_json_pickle_and_repr(kind, tmp_path):
    config = _small_config(kind, tmp_path).replace(seed=2)
    for again in (
        CorpusConfig.from_dict(json.loads(json.dumps(config.to_dict()))),
        pickle.loads(pickle.dumps(config)),
        copy.deepcopy(config),
        eval(repr(config), {"CorpusConfig": CorpusConfig}),  # noqa: S307 - our own repr
    ):
        assert again == config and hash(again) == hash(config) and again.kind == kind
    assert {config: 1}[pickle.loads(pickle.dumps(config))] == 1
    assert config != config.replace(seed=3) and config != config.to_dict()
    assert set(config.to_dict()) == {"kind", *KINDS[kind].all_parameters}


def test_corpus_config_is_hashable_and_round_trips_through_json():
    config = CorpusConfig(kind="files", paths=("a.txt", "b.txt"), n_tokens=1000)
    again = CorpusConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and hash(again) == hash(config)
    assert again.paths == ("a.txt", "b.txt")  # a JSON list comes back a tuple
    assert CorpusConfig(kind="files", paths=["a.txt", "b.txt"], n_tokens=1000) == config


def test_corpus_config_takes_its_kinds_defaults_and_is_frozen():
    config = CorpusConfig(kind="zipf", n_rules=1000)
    assert config.n_rules == 1000 and config.zipf_exponent == 1.3 and config.n_tokens == 1_000_000
    assert CorpusConfig() == CorpusConfig(kind="zipf")
    with pytest.raises(AttributeError, match="frozen"):
        config.n_rules = 5
    with pytest.raises(AttributeError, match="the 'zipf' corpus has no parameter 'n_states'; it has: n_tokens"):
        config.n_states  # noqa: B018


def test_replace_and_changed():
    config = CorpusConfig(kind="zipf", n_rules=1000, n_tokens=20_000)
    assert config.replace(seed=4) == CorpusConfig(kind="zipf", n_rules=1000, n_tokens=20_000, seed=4)
    assert config.replace(seed=4).n_rules == 1000 and config.seed == 0  # a copy: the original is unchanged
    assert config.changed() == {"n_rules": 1000, "n_tokens": 20_000}
    moved = config.replace(kind="markov_icl", n_states=4)  # only what the new kind has is carried over
    assert moved == CorpusConfig(kind="markov_icl", n_tokens=20_000, n_states=4)
    assert moved.changed() == {"kind": "markov_icl", "n_tokens": 20_000, "n_states": 4}
    assert CorpusConfig(kind="files", paths=["a"]).changed() == {"kind": "files", "paths": ["a"]}
    with pytest.raises(ValueError, match="'n_states' is not a parameter of the 'zipf' corpus"):
        config.replace(n_states=4)


def test_an_unknown_key_is_named_with_the_keys_the_kind_accepts():
    message = (
        "'n_states' is not a parameter of the 'zipf' corpus; it accepts: n_tokens, seed, val_fraction, "
        "n_rules, zipf_exponent, continuation_length, noise, document_tokens"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        CorpusConfig(kind="zipf", n_states=8)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        CorpusConfig.from_dict({"kind": "zipf", "n_states": 4})


@pytest.mark.parametrize("kind", KIND_MODULES)
def test_every_kind_rejects_a_key_it_does_not_have(kind):
    accepted = ", ".join(KINDS[kind].all_parameters)
    message = f"'bogus' is not a parameter of the {kind!r} corpus; it accepts: {accepted}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        CorpusConfig(kind=kind, bogus=1)


OLD_ZIPF_RECORD = {  # results/gpt_zipf: written when every corpus held every kind's fields
    "concentration": 0.3, "continuation_length": 8, "document_tokens": 256, "kind": "zipf", "n_rules": 10000,
    "n_states": 8, "n_tokens": 5000000, "noise": 0.05, "paths": [], "seed": 0, "val_fraction": 0.1, "zipf_exponent": 1.3,
}
OLD_MARKOV_RECORD = {  # results/icl_markov
    "concentration": 0.3, "continuation_length": 8, "document_tokens": 129, "kind": "markov_icl", "n_rules": 10000,
    "n_states": 4, "n_tokens": 6000000, "noise": 0.05, "paths": [], "seed": 0, "val_fraction": 0.1, "zipf_exponent": 1.3,
}


def test_from_dict_reads_an_old_flat_record():
    assert CorpusConfig.from_dict(OLD_ZIPF_RECORD) == CorpusConfig(kind="zipf", n_tokens=5_000_000)
    assert CorpusConfig.from_dict(OLD_MARKOV_RECORD) == CorpusConfig(
        kind="markov_icl", n_tokens=6_000_000, n_states=4, document_tokens=129
    )
    # A foreign field that does not hold its old default was not ignored then: it is an error.
    with pytest.raises(ValueError, match="'n_states' is not a parameter of the 'zipf' corpus"):
        CorpusConfig.from_dict({**OLD_ZIPF_RECORD, "n_states": 4})
    with pytest.raises(ValueError, match="'n_rules' is not a parameter of the 'markov_icl' corpus"):
        CorpusConfig.from_dict({**OLD_MARKOV_RECORD, "n_rules": 50})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "wiki"}, "kind must be one of"),
        ({"n_tokens": 0}, "n_tokens must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"val_fraction": 1.0}, r"val_fraction must be a number in \(0, 1\)"),
        ({"val_fraction": 0}, "val_fraction must be a number in"),
        ({"n_rules": 0}, "n_rules must be a positive integer"),
        ({"zipf_exponent": 0.0}, "zipf_exponent must be a finite number > 0"),
        ({"continuation_length": 0}, "continuation_length must be a positive integer"),
        ({"noise": 1.5}, r"noise must be a number in \[0, 1\]"),
        ({"kind": "markov_icl", "n_states": 27}, "n_states must be at most 26"),
        ({"kind": "markov_icl", "concentration": -1.0}, "concentration must be a finite number > 0"),
        ({"document_tokens": 1}, "document_tokens must be at least 2"),
        ({"paths": ["a.txt"]}, "'paths' is not a parameter of the 'zipf' corpus"),
        ({"kind": "files"}, "paths must name at least one file"),
        ({"kind": "files", "paths": "a.txt"}, "paths must name at least one file"),
        ({"kind": "stdlib", "n_tokens": 10**9}, f"n_tokens must be at most {MAX_TEXT_TOKENS}"),
        ({"kind": "stdlib", "document_unit": "chapter"}, "document_unit must be one of 'docstring', 'module'"),
        ({"kind": "skills", "n_digits": 7}, r"n_digits must be an integer in 1\.\.6"),
        ({"kind": "skills", "n_facts": 0}, "n_facts must be a positive integer"),
        ({"kind": "skills", "text_fraction": 1.0}, r"text_fraction must be a number in \[0, 1\)"),
    ],
)
def test_corpus_config_rejects_bad_fields(fields, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        CorpusConfig(**fields)


# ---------------------------------------------------------------------------
# The corpus: cached, read-only, split by document


def test_corpus_arrays_are_read_only_and_the_cached_corpus_is_unchanged():
    corpus = make_corpus(SMALL_ZIPF)
    first = corpus.train_tokens[:10].copy()
    for name in ("train_tokens", "val_tokens", "train_document_starts", "val_document_starts"):
        with pytest.raises(ValueError, match="assignment destination is read-only"):
            getattr(corpus, name)[0] = 1
    assert make_corpus(SMALL_ZIPF) is corpus and np.array_equal(corpus.train_tokens[:10], first)
    with pytest.raises(ValueError, match="config"):
        make_corpus({"kind": "zipf"})


def test_unique_subset_is_a_read_only_view_of_exactly_n_tokens():
    corpus = make_corpus(SMALL_ZIPF)
    subset = corpus.unique_subset(1234)
    assert len(subset) == 1234 and np.array_equal(subset, corpus.train_tokens[:1234])
    assert subset.base is not None and np.shares_memory(subset, corpus.train_tokens)  # a view, not a copy
    assert not subset.flags.writeable
    with pytest.raises(ValueError, match="assignment destination is read-only"):
        subset[0] = 1
    with pytest.raises(ValueError, match="n_tokens"):
        corpus.unique_subset(len(corpus.train_tokens) + 1)
    with pytest.raises(ValueError, match="n_tokens"):
        corpus.unique_subset(0)


def test_corpus_too_small_to_split_is_rejected():
    with pytest.raises(ValueError, match="n_tokens"):
        make_corpus(CorpusConfig(kind="zipf", n_tokens=10))


# ---------------------------------------------------------------------------
# Zipf rules


def test_zipf_corpus_is_deterministic_and_split_by_document():
    a = make_corpus(SMALL_ZIPF)
    clear_cache()
    b = make_corpus(CorpusConfig.from_dict(SMALL_ZIPF.to_dict()))
    assert b is not a  # built again, not taken from the cache
    assert np.array_equal(a.train_tokens, b.train_tokens) and np.array_equal(a.val_tokens, b.val_tokens)
    assert np.array_equal(a.val_document_starts, b.val_document_starts)
    other = make_corpus(CorpusConfig(kind="zipf", n_tokens=20_000, n_rules=50, seed=4))
    assert not np.array_equal(a.train_tokens[:500], other.train_tokens[:500])
    assert len(a.train_tokens) + len(a.val_tokens) >= SMALL_ZIPF.n_tokens
    documents = len(a.train_document_starts) + len(a.val_document_starts)
    assert len(a.val_document_starts) == round(0.1 * documents)
    assert a.train_tokens.dtype == np.uint8


def test_zipf_segments_have_their_layout():
    corpus = make_corpus(SMALL_ZIPF)
    segment = zipf_segment_tokens(SMALL_ZIPF)
    segments = corpus.train_tokens.reshape(-1, segment)
    id_length = zipf_id_length(SMALL_ZIPF.n_rules)
    assert segment == id_length + SMALL_ZIPF.continuation_length + 1
    assert (segments[:, -1] == ord(" ")).all()
    assert decode(segments[:, :id_length].ravel()).isupper()
    assert decode(segments[:, id_length:-1].ravel()).islower()


def test_zipf_id_length():
    assert [zipf_id_length(n) for n in (1, 26, 27, 676, 677, 10_000)] == [1, 1, 2, 2, 3, 3]


def test_zipf_entropy_rate_matches_the_formula():
    config = CorpusConfig(n_rules=3, zipf_exponent=1.0, continuation_length=4, noise=0.0)
    p = np.array([1, 1 / 2, 1 / 3]) / (1 + 1 / 2 + 1 / 3)
    assert zipf_entropy_rate_nats(config) == pytest.approx(-(p * np.log(p)).sum() / 6)
    assert noisy_letter_entropy_nats(1.0) == pytest.approx(math.log(26))
    assert noisy_letter_entropy_nats(0.0) == 0.0
    assert zipf_probabilities(4, 1.3).sum() == pytest.approx(1.0)


def test_zipf_rule_frequencies_follow_the_zipf_law():
    config = CorpusConfig(n_tokens=200_000, n_rules=20, noise=0.0)
    corpus = make_corpus(config)
    segments = corpus.train_tokens.reshape(-1, zipf_segment_tokens(config))
    _, counts = np.unique(segments[:, :1], axis=0, return_counts=True)
    frequencies = np.sort(counts)[::-1] / counts.sum()
    expected = zipf_probabilities(20, config.zipf_exponent)
    assert np.abs(frequencies - expected).max() < 0.01


# ---------------------------------------------------------------------------
# In-context Markov chains


def test_markov_icl_documents_start_with_a_newline():
    config = CorpusConfig(kind="markov_icl", n_tokens=10_000, n_states=5, document_tokens=100)
    corpus = make_corpus(config)
    assert (corpus.train_tokens[corpus.train_document_starts] == ord("\n")).all()
    letters = set(decode(corpus.train_tokens).replace("\n", ""))
    assert letters <= set("abcde")


def test_bayes_optimal_predictive_is_the_dirichlet_categorical_rule():
    states = np.array([[0, 1, 0, 1, 0]])
    predictive = bayes_optimal_predictive(states, n_states=2, concentration=0.5)
    assert predictive[0, 0] == pytest.approx([0.5, 0.5])
    assert predictive[0, 1] == pytest.approx([0.5, 0.5])  # nothing seen from state 0 yet
    assert predictive[0, 2] == pytest.approx([0.5, 0.5])  # nothing seen from state 1 yet
    assert predictive[0, 3] == pytest.approx([0.5 / 2, 1.5 / 2])  # from 0: 0 -> 1 seen once
    assert predictive[0, 4] == pytest.approx([1.5 / 2, 0.5 / 2])  # from 1: 1 -> 0 seen once


def test_bayes_optimal_loss_matches_monte_carlo():
    n_positions, n_states, alpha = 48, 4, 0.5
    mean, error = bayes_optimal_loss_per_position(
        n_positions, n_states=n_states, concentration=alpha, n_samples=3000, seed=1
    )
    rng = np.random.default_rng(123)
    states = sample_markov_documents(6000, n_positions, n_states, alpha, rng)
    predictive = bayes_optimal_predictive(states, n_states, alpha)
    realised = -np.log(np.take_along_axis(predictive, states[..., None], axis=-1)[..., 0])
    mc_mean, mc_error = realised.mean(axis=0), realised.std(axis=0, ddof=1) / math.sqrt(len(states))
    assert mean[:2] == pytest.approx([math.log(n_states)] * 2) and mc_mean[:2] == pytest.approx(mean[:2])
    z = (mean[2:] - mc_mean[2:]) / np.sqrt(error[2:] ** 2 + mc_error[2:] ** 2)
    assert np.abs(z).max() < 4.5
    assert abs(z.mean()) * math.sqrt(len(z)) < 4.5  # no shared bias either
    assert mean[-1] < mean[2] < mean[0]  # learning in context lowers the loss
    assert (error[2:] > 0).all() and (error[2:] < 0.02).all()


def test_entropy_rate_of_a_two_state_chain_is_its_rows_weighted_by_the_stationary_distribution():
    table = np.array([[0.9, 0.1], [0.5, 0.5]])  # stationary (5/6, 1/6)
    row_entropy = [-(0.9 * math.log(0.9) + 0.1 * math.log(0.1)), math.log(2)]
    assert entropy_rate_nats(table) == pytest.approx(5 / 6 * row_entropy[0] + 1 / 6 * row_entropy[1])
    assert entropy_rate_nats(np.stack([table, np.full((2, 2), 0.5)])) == pytest.approx(
        [entropy_rate_nats(table), math.log(2)])
    with pytest.raises(ValueError, match="square"):
        entropy_rate_nats(np.ones(3) / 3)
    with pytest.raises(ValueError, match="sum to 1"):
        entropy_rate_nats(np.array([[0.5, 0.6], [0.5, 0.5]]))


def test_the_bayes_optimal_loss_falls_towards_the_chains_expected_entropy_rate():
    rate, error = expected_entropy_rate_nats(n_states=4, concentration=0.5, n_samples=20_000)
    assert 0 < error < 0.005
    assert expected_entropy_rate_nats(n_states=4, concentration=1e6)[0] == pytest.approx(math.log(4), rel=1e-6)
    late, _ = bayes_optimal_loss_per_position(400, n_states=4, concentration=0.5, n_samples=2000)
    assert rate < late[-1] < rate + 0.05  # still above the floor, and close to it after 400 tokens
    with pytest.raises(ValueError, match="concentration"):
        expected_entropy_rate_nats(concentration=0.0)


def test_bayes_optimal_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="n_positions"):
        bayes_optimal_loss_per_position(0)
    with pytest.raises(ValueError, match="concentration"):
        bayes_optimal_loss_per_position(5, concentration=0.0)


# ---------------------------------------------------------------------------
# Standard-library docstrings


def test_stdlib_corpus_is_real_deterministic_text():
    config = CorpusConfig(kind="stdlib", n_tokens=60_000)
    corpus = make_corpus(config)
    assert len(corpus.train_tokens) + len(corpus.val_tokens) == 60_000
    text = decode(corpus.train_tokens)
    assert text.count(" the ") > 50
    assert make_corpus(CorpusConfig.from_dict(config.to_dict())) is corpus  # cached in-process
    assert "docstrings" in corpus.describe()
    clear_cache()
    again = make_corpus(config)
    assert again is not corpus and np.array_equal(again.train_tokens, corpus.train_tokens)
    assert np.array_equal(again.val_tokens, corpus.val_tokens)


def test_stdlib_module_documents_hold_the_same_text_in_fewer_longer_documents():
    by_docstring = make_corpus(CorpusConfig(kind="stdlib", n_tokens=200_000, val_fraction=0.5))
    by_module = make_corpus(CorpusConfig(kind="stdlib", n_tokens=200_000, val_fraction=0.5, document_unit="module"))
    assert len(by_module.train_document_starts) + len(by_module.val_document_starts) < (
        len(by_docstring.train_document_starts) + len(by_docstring.val_document_starts)
    ) / 3
    words = sorted(decode(np.concatenate([by_docstring.train_tokens, by_docstring.val_tokens])).split())
    module_words = sorted(decode(np.concatenate([by_module.train_tokens, by_module.val_tokens])).split())
    assert len(module_words) == pytest.approx(len(words), rel=0.01)


# ---------------------------------------------------------------------------
# The reader's own files


def test_from_files(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("\n\n".join(f"Paragraph {i} says something." for i in range(30)), encoding="utf-8")
    corpus = from_files([path])
    assert len(corpus.train_document_starts) + len(corpus.val_document_starts) == 30
    assert "Paragraph" in decode(corpus.train_tokens)
    assert corpus.config == CorpusConfig(kind="files", paths=[str(path)], n_tokens=MAX_TEXT_TOKENS)


def test_from_files_rejects_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty.txt"):
        from_files([empty])
    with pytest.raises(ValueError, match="missing.txt"):
        from_files([tmp_path / "missing.txt"])
    binary = tmp_path / "binary.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ValueError, match="binary.bin"):
        from_files([binary])


def test_check_available_names_a_missing_file_before_anything_is_built(tmp_path):
    present = tmp_path / "present.txt"
    present.write_text("Some text.\n\nMore text.\n", encoding="utf-8")
    check_available(CorpusConfig(kind="files", paths=[str(present)]))
    check_available(SMALL_ZIPF)  # generated kinds need nothing from the disk
    missing = CorpusConfig(kind="files", paths=[str(present), str(tmp_path / "missing.txt")])
    with pytest.raises(ValueError, match=r"^paths: '.*missing\.txt' is not a file$"):
        check_available(missing)


def test_a_number_keeps_the_json_it_was_given_so_run_ids_do_not_change():
    from scalinglab.runs import TrainConfig

    as_int, as_float = CorpusConfig(kind="zipf", noise=0), CorpusConfig(kind="zipf", noise=0.0)
    assert as_int.to_dict()["noise"] == 0 and isinstance(as_int.to_dict()["noise"], int)
    assert isinstance(as_float.to_dict()["noise"], float)
    ids = {TrainConfig(tokens=1024, corpus=c).config_hash() for c in (as_int, as_float)}
    assert len(ids) == 2  # as before the corpora were split by kind: the id hashes the config's JSON
    with pytest.raises(AttributeError, match="frozen"):
        del as_int.kind


def test_the_ngram_baselines_fall_with_the_order_and_stay_above_the_entropy():
    corpus = make_corpus(CorpusConfig(kind="zipf", n_tokens=400_000, n_rules=50))
    unigram, bigram = corpus.ngram_loss_nats(1), corpus.ngram_loss_nats(2)
    assert corpus.entropy_rate_nats < bigram < unigram < np.log(256)
    counts = np.bincount(corpus.train_tokens, minlength=256) + 0.01
    assert unigram == pytest.approx(-np.mean(np.log(counts[corpus.val_tokens] / counts.sum())))
    for bad in (0, 3, "2"):
        with pytest.raises(ValueError, match="^n must be 1"):
            corpus.ngram_loss_nats(bad)
    with pytest.raises(ValueError, match="^smoothing must be"):
        corpus.ngram_loss_nats(2, smoothing=0)
