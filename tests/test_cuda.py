"""The CUDA path, with tolerances: skipped on a machine without a CUDA GPU (``make gpu-check``
runs this file on one)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from scalinglab.batches import evaluation_starts
from scalinglab.corpora import CorpusConfig, make_corpus
from scalinglab.device import bf16_is_native
from scalinglab.inference import evaluate_per_position, loss_per_position
from scalinglab.model import GPTConfig, LSTMConfig
from scalinglab.runs import TrainConfig
from scalinglab.train import train, train_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU usable by this torch")

RUN = TrainConfig(
    model=GPTConfig(n_layer=2, n_head=4, d_model=64, n_ctx=64),
    corpus=CorpusConfig(kind="zipf", n_tokens=200_000, n_rules=100),
    tokens=100_000, batch_size=16, lr=3e-3, n_evals=3, eval_tokens=4096, device="cuda",
)


def test_a_run_on_cuda_records_the_device_and_the_precision_it_used():
    result = train(RUN)
    assert result.device == "cuda"
    assert result.precision == ("bf16" if bf16_is_native("cuda") else "fp32")
    assert result.config.precision == result.precision or not bf16_is_native("cuda")
    assert np.isfinite(result.val_loss_nats).all() and np.isfinite(result.train_loss_nats).all()


def test_two_identical_runs_agree_within_a_thousandth_of_a_nat():
    first, second = train(RUN), train(RUN)
    assert abs(first.final_val_loss_nats - second.final_val_loss_nats) < 1e-3


def test_the_evaluation_on_the_gpu_matches_the_cpu_in_fp32():
    result, model = train_model(RUN)
    corpus = make_corpus(RUN.corpus)
    starts = evaluation_starts(corpus, 64, RUN.eval_tokens)
    on_gpu = np.array(result.val_loss_per_position_nats)
    on_indexed = loss_per_position(model.to("cuda:0"), corpus.val_tokens, 64, starts=starts.numpy())
    on_cpu = evaluate_per_position(model.to("cpu"), corpus.val_tokens, starts, 64, 16, "cpu")
    assert np.abs(on_indexed - on_gpu).max() < 1e-4
    assert np.abs(on_cpu - on_gpu).max() < 1e-3


def test_an_lstm_on_cuda_trains_in_fp32_with_auto_precision():
    result = train(dataclasses.replace(RUN, model=LSTMConfig(n_layer=1, d_model=64, n_ctx=64)))
    assert result.device == "cuda" and result.precision == "fp32"
