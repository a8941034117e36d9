"""Tests of scalinglab.batches: training batches and evaluation windows of a corpus."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scalinglab.batches import evaluation_starts, get_batch, token_tensor, windows
from scalinglab.corpora import CorpusConfig, make_corpus


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


def test_batches_of_a_read_only_corpus_leave_it_untouched():
    corpus = make_corpus(CorpusConfig(kind="zipf", n_tokens=5_000, n_rules=20))
    first = int(corpus.train_tokens[0])
    tensor = token_tensor(corpus.train_tokens)  # a copy: torch cannot share a read-only array
    tensor[0] = first + 1
    assert corpus.train_tokens[0] == first
    writable = np.arange(10, dtype=np.uint8)
    assert np.shares_memory(token_tensor(writable).numpy(), writable)  # a writable array is not copied
    assert token_tensor(tensor) is tensor
    x, y = windows(corpus.train_tokens, torch.tensor([0, 7]), 5)
    assert np.array_equal(x[1].numpy(), corpus.train_tokens[7:12]) and np.array_equal(y[1].numpy(), corpus.train_tokens[8:13])


def test_evaluation_windows_start_at_documents_when_there_are_enough():
    corpus = make_corpus(CorpusConfig(kind="markov_icl", n_tokens=20_000, document_tokens=40, n_states=4))
    starts = evaluation_starts(corpus, 16, 16 * 10)
    assert len(starts) == 10 and set(starts.tolist()) <= set(corpus.val_document_starts.tolist())
    assert (corpus.val_tokens[starts.numpy()] == ord("\n")).all()
    few = evaluation_starts(corpus, 16, 16 * 10_000)  # more windows than documents: evenly spaced
    assert len(few) == 10_000 and few[0] == 0 and few[-1] == len(corpus.val_tokens) - 17
