"""Shared test settings and fixtures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from scalinglab.runs import GPTConfig, RunResult, TrainConfig, bits_per_byte


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny models run fastest on one thread, and on a shared 2-core machine two threads
    can stall each other badly; restore the thread count afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class StubModel(torch.nn.Module):
    """A stub language model whose next token is known in advance.

    With ``answer=None`` every logit is zero: each byte has probability 1/256 and greedy
    decoding writes byte 0. With a one-character ``answer`` it writes ``answer`` after
    any token but ``answer``, and a newline after ``answer``, so every greedy completion
    is ``answer``.
    """

    def __init__(self, answer: str | None = None, n_ctx: int = 256) -> None:
        super().__init__()
        if answer is not None and len(answer.encode()) != 1:
            raise ValueError(f"answer must be one byte, got {answer!r}")
        self.answer = None if answer is None else ord(answer)
        self.config = GPTConfig(n_ctx=n_ctx)
        self.weight = torch.nn.Parameter(torch.zeros(()))

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        logits = torch.zeros(*idx.shape, 256)
        if self.answer is not None:
            is_answer = idx == self.answer
            logits[..., self.answer] = (~is_answer).float()
            logits[..., ord("\n")] = is_answer.float()
        return logits, None


@pytest.fixture
def stub_model() -> Callable[..., StubModel]:
    """``stub_model(answer=None, n_ctx=256)``: a :class:`StubModel` (see its docstring)."""
    return StubModel


def _fake_result(config: TrainConfig, *, loss: float = 2.0, n_params: int = 1000, **changes: Any) -> RunResult:
    """A :class:`RunResult` of ``config`` made up without training: ``n_evals`` evaluations
    whose validation loss falls to ``loss``, the fields in ``changes`` replaced."""
    tokens = config.tokens or 4096
    val_tokens = [tokens * (i + 1) // config.n_evals for i in range(config.n_evals)]
    val_loss = [loss + 1.0 / (i + 1) - 1.0 / config.n_evals for i in range(config.n_evals)]
    fields: dict[str, Any] = {
        "config": config, "config_hash": config.config_hash(), "steps": 8, "tokens": tokens,
        "flops": 6.0 * n_params * tokens, "epochs": 0.5, "train_tokens": [tokens // 2, tokens],
        "train_loss_nats": [loss + 1.0, loss + 0.1], "train_flops": [3.0 * n_params * tokens, 6.0 * n_params * tokens],
        "val_tokens": val_tokens, "val_loss_nats": val_loss, "val_flops": [6.0 * n_params * t for t in val_tokens],
        "final_val_loss_nats": val_loss[-1], "final_val_loss_bits_per_byte": bits_per_byte(val_loss[-1]),
        "val_loss_per_position_nats": [loss + 1.0, loss], "n_params": n_params, "n_params_with_embedding": n_params + 512,
        "flops_per_token": 6 * n_params, "seconds": 1.5, "tokens_per_second": 1000.0, "flops_per_second": 6e6,
        "peak_flops_per_second": None, "mfu": None, "device": "cpu", "precision": "fp32", "compiled": False,
        "torch_version": "2.3.0", "scalinglab_version": "0.1.0", "python_version": "3.11.7",
        "created": "2024-01-02T03:04:05+00:00", "val_probes": {"icl_score": [-0.1 * (i + 1) for i in range(config.n_evals)]},
    }
    return RunResult(**{**fields, **changes})


@pytest.fixture
def fake_result() -> Callable[..., RunResult]:
    """``fake_result(config, *, loss=2.0, n_params=1000, **fields)``: a made-up
    :class:`~scalinglab.runs.RunResult` of ``config``, for tests of what reads results."""
    return _fake_result
