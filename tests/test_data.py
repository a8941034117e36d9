"""Tests of scalinglab.data: corpora, entropy rates, Bayes-optimal in-context loss, batches."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from scalinglab.data import (
    CorpusConfig,
    bayes_optimal_loss_per_position,
    bayes_optimal_predictive,
    decode,
    encode,
    from_files,
    get_batch,
    make_corpus,
    noisy_letter_entropy_nats,
    sample_markov_documents,
    zipf_entropy_rate_nats,
    zipf_id_length,
    zipf_probabilities,
    zipf_segment_tokens,
)

SMALL_ZIPF = CorpusConfig(kind="zipf", n_tokens=20_000, n_rules=50, seed=3)


def test_encode_decode_round_trip():
    text = "héllo, wörld\n"
    tokens = encode(text)
    assert tokens.dtype == np.uint8 and len(tokens) == len(text.encode("utf-8"))
    assert decode(tokens) == text
    assert decode(torch.from_numpy(tokens)) == text


def test_corpus_config_is_hashable_and_round_trips_through_json():
    config = CorpusConfig(kind="files", paths=("a.txt", "b.txt"), n_tokens=1000)
    again = CorpusConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and hash(again) == hash(config)


def test_zipf_corpus_is_deterministic_and_split_by_document():
    a, b = make_corpus(SMALL_ZIPF), make_corpus(CorpusConfig.from_dict(SMALL_ZIPF.to_dict()))
    assert np.array_equal(a.train_tokens, b.train_tokens) and np.array_equal(a.val_tokens, b.val_tokens)
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


def test_stdlib_corpus_is_real_deterministic_text():
    config = CorpusConfig(kind="stdlib", n_tokens=60_000)
    corpus = make_corpus(config)
    assert len(corpus.train_tokens) + len(corpus.val_tokens) == 60_000
    text = decode(corpus.train_tokens)
    assert text.count(" the ") > 50
    assert make_corpus(CorpusConfig.from_dict(config.to_dict())) is corpus  # cached in-process
    assert "docstrings" in corpus.describe()


def test_stdlib_module_documents_hold_the_same_text_in_fewer_longer_documents():
    by_docstring = make_corpus(CorpusConfig(kind="stdlib", n_tokens=200_000, val_fraction=0.5))
    by_module = make_corpus(CorpusConfig(kind="stdlib", n_tokens=200_000, val_fraction=0.5, document_unit="module"))
    assert len(by_module.train_document_starts) + len(by_module.val_document_starts) < (
        len(by_docstring.train_document_starts) + len(by_docstring.val_document_starts)
    ) / 3
    words = sorted(decode(np.concatenate([by_docstring.train_tokens, by_docstring.val_tokens])).split())
    module_words = sorted(decode(np.concatenate([by_module.train_tokens, by_module.val_tokens])).split())
    assert len(module_words) == pytest.approx(len(words), rel=0.01)


def test_the_skills_corpus_mixes_training_sums_facts_and_text():
    from scalinglab.skills import addition_split

    config = CorpusConfig(kind="skills", n_tokens=100_000, n_digits=2, n_facts=50, text_fraction=0.3, seed=0)
    corpus = make_corpus(config)
    text = decode(np.concatenate([corpus.train_tokens, corpus.val_tokens]))
    sums = [line for line in text.split("\n") if re.fullmatch(r"\d\d\+\d\d=\d+", line)]
    assert len(sums) > 100 and text.count("the colour of ") > 100 and text.count(" the ") > 50
    for line in sums:
        left, total = line.split("=")
        a, b = map(int, left.split("+"))
        assert a + b == int(total) and not addition_split(a, b, held_out_fraction=0.1, seed=0)


def test_from_files(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("\n\n".join(f"Paragraph {i} says something." for i in range(30)), encoding="utf-8")
    corpus = from_files([path])
    assert len(corpus.train_document_starts) + len(corpus.val_document_starts) == 30
    assert "Paragraph" in decode(corpus.train_tokens)


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


def test_unique_subset_has_exactly_n_tokens():
    corpus = make_corpus(SMALL_ZIPF)
    subset = corpus.unique_subset(1234)
    assert len(subset) == 1234 and np.array_equal(subset, corpus.train_tokens[:1234])
    with pytest.raises(ValueError, match="n_tokens"):
        corpus.unique_subset(len(corpus.train_tokens) + 1)
    with pytest.raises(ValueError, match="n_tokens"):
        corpus.unique_subset(0)


def test_get_batch_gives_shifted_int64_windows():
    tokens = np.arange(100, dtype=np.uint8)
    x, y = get_batch(tokens, 4, 10, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 10) and x.dtype == y.dtype == torch.int64
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y, x + 1)
    x2, _ = get_batch(tokens, 4, 10, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)


def test_get_batch_rejects_bad_input():
    with pytest.raises(ValueError, match="tokens"):
        get_batch(np.zeros(10, dtype=np.uint8), 2, 10)
    with pytest.raises(ValueError, match="batch_size"):
        get_batch(np.zeros(100, dtype=np.uint8), 0, 10)
    with pytest.raises(ValueError, match="n_ctx"):
        get_batch(np.zeros(100, dtype=np.uint8), 2, 0)


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"kind": "wiki"}, "kind"),
        ({"n_tokens": 0}, "n_tokens"),
        ({"seed": -1}, "seed"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"val_fraction": 0}, "val_fraction"),
        ({"n_rules": 0}, "n_rules"),
        ({"zipf_exponent": 0.0}, "zipf_exponent"),
        ({"continuation_length": 0}, "continuation_length"),
        ({"noise": 1.5}, "noise"),
        ({"n_states": 27}, "n_states"),
        ({"concentration": -1.0}, "concentration"),
        ({"document_tokens": 1}, "document_tokens"),
        ({"paths": ["a.txt"]}, "paths"),
        ({"kind": "files"}, "paths"),
        ({"kind": "stdlib", "n_tokens": 10**9}, "n_tokens"),
        ({"document_unit": "chapter"}, "document_unit"),
        ({"n_digits": 7}, "n_digits"),
        ({"n_facts": 0}, "n_facts"),
        ({"text_fraction": 1.0}, "text_fraction"),
    ],
)

def test_corpus_config_rejects_bad_fields(fields, name):
    with pytest.raises(ValueError, match=name):
        CorpusConfig(**fields)


def test_corpus_too_small_to_split_is_rejected():
    with pytest.raises(ValueError, match="n_tokens"):
        make_corpus(CorpusConfig(kind="zipf", n_tokens=10))
    with pytest.raises(ValueError, match="config"):
        make_corpus({"kind": "zipf"})


def test_bayes_optimal_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="n_positions"):
        bayes_optimal_loss_per_position(0)
    with pytest.raises(ValueError, match="concentration"):
        bayes_optimal_loss_per_position(5, concentration=0.0)
