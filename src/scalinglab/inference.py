"""Running a trained model: per-position loss, greedy decoding, sampling, teacher
forcing, attention patterns.

Everything here reads a model and changes none of its weights; each function puts the
model in eval mode (and :func:`attention_patterns` restores the mode it found). Losses are
in nats per byte token.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ._checks import non_negative_float, non_negative_int, positive_int
from .batches import token_tensor, windows
from .corpora import decode, encode
from .model import GPT, LSTM


@torch.no_grad()
def evaluate_per_position(
    model: torch.nn.Module,
    tokens: np.ndarray | torch.Tensor,
    starts: torch.Tensor,
    n_ctx: int,
    batch_size: int,
    device: str,
) -> np.ndarray:
    """Mean loss in nats at each of the ``n_ctx`` positions over the windows at ``starts``.

    Entry ``t`` is the mean over the windows of -ln p(x_{t+1} | x_0..x_t). The model runs in
    float32 whatever precision it was trained in (the laws compare sizes a hundredth of a nat
    apart, finer than bf16 logits resolve), and the sum is accumulated in float64 on the CPU
    (MPS has no float64).
    """
    model.eval()
    tokens = token_tensor(tokens)
    total = torch.zeros(n_ctx, dtype=torch.float64)
    for chunk in starts.split(batch_size):
        x, y = windows(tokens, chunk, n_ctx, device)
        _, loss = model(x, y, reduction="none")
        total += loss.detach().cpu().double().sum(dim=0)
    return (total / len(starts)).numpy()


def _device_of(model: torch.nn.Module) -> str:
    return str(next(model.parameters()).device)


def loss_per_position(
    model: GPT | LSTM,
    tokens: np.ndarray,
    n_ctx: int,
    *,
    n_windows: int = 64,
    seed: int = 0,
    starts: np.ndarray | None = None,
    batch_size: int = 16,
) -> np.ndarray:
    """Mean loss (nats/token) at each of the ``n_ctx`` positions over windows of ``tokens``.

    Entry ``t - 1`` is the mean over the windows of -ln p(x_t | x_1..x_{t-1}), the loss
    of predicting the window's token t+1 from the t tokens before it. The windows start
    at ``starts`` (indices into ``tokens``, a 1-D array of byte tokens, e.g. a corpus's
    document starts) or, without them, at ``n_windows`` starts drawn uniformly from
    ``seed``; either way the result is deterministic. A GPT needs
    ``n_ctx <= config.n_ctx``; an LSTM can be measured past its training context.
    """
    n_ctx, n_windows = positive_int("n_ctx", n_ctx), positive_int("n_windows", n_windows)
    batch_size, seed = positive_int("batch_size", batch_size), non_negative_int("seed", seed)
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or len(tokens) < n_ctx + 1:
        raise ValueError(
            f"tokens must be a 1-D array of at least n_ctx + 1 = {n_ctx + 1} tokens, got shape {tokens.shape}"
        )
    if isinstance(model, GPT) and n_ctx > model.config.n_ctx:
        raise ValueError(f"n_ctx must be at most the model's n_ctx={model.config.n_ctx}, got {n_ctx}")
    if starts is None:
        generator = torch.Generator().manual_seed(seed)
        window_starts = torch.randint(0, len(tokens) - n_ctx, (n_windows,), generator=generator)
    else:
        window_starts = torch.from_numpy(np.array(starts, dtype=np.int64))  # a copy: corpora's arrays are read-only
        last = len(tokens) - n_ctx - 1
        if window_starts.ndim != 1 or len(window_starts) == 0 or not 0 <= int(window_starts.min()) <= int(window_starts.max()) <= last:
            raise ValueError(f"starts must be a non-empty 1-D array of window starts in 0..len(tokens) - n_ctx - 1 = {last}")
    return evaluate_per_position(model, torch.tensor(tokens), window_starts, n_ctx, batch_size, _device_of(model))


@torch.no_grad()
def greedy_completions(model: GPT | LSTM, prompts: Sequence[str], max_new_tokens: Sequence[int]) -> list[str]:
    """Greedy continuation of each prompt: up to ``max_new_tokens[i]`` tokens, cut at a newline.

    The prompts run as one right-padded batch (causal attention means the padding
    after a prompt never affects it); each row reads its next-token logits at its own
    last position. The newline that stops a completion is not included.
    """
    encoded = [encode(prompt) for prompt in prompts]
    lengths = [len(tokens) for tokens in encoded]
    if not prompts or min(lengths) == 0:
        raise ValueError("prompts must be a non-empty sequence of non-empty strings")
    if len(max_new_tokens) != len(prompts):
        raise ValueError(f"max_new_tokens must have one entry per prompt ({len(prompts)}), got {len(max_new_tokens)}")
    max_new_tokens = [positive_int("max_new_tokens", m) for m in max_new_tokens]
    width = max(n + m - 1 for n, m in zip(lengths, max_new_tokens))
    device = next(model.parameters()).device
    buffer = torch.zeros(len(prompts), width, dtype=torch.long, device=device)
    for row, tokens in enumerate(encoded):
        buffer[row, : len(tokens)] = torch.from_numpy(tokens.astype(np.int64))
    generated: list[list[int]] = [[] for _ in prompts]
    model.eval()
    for step in range(max(max_new_tokens)):
        last = [min(n + step, width) - 1 for n in lengths]
        logits, _ = model(buffer[:, : max(last) + 1])
        tokens = logits[torch.arange(len(prompts)), last].argmax(dim=-1).tolist()
        for row, token in enumerate(tokens):
            if step < max_new_tokens[row] and (step == 0 or generated[row][-1] != ord("\n")):
                generated[row].append(token)
                if last[row] + 1 < width:
                    buffer[row, last[row] + 1] = token
    return [decode(tokens).split("\n")[0] for tokens in generated]


@torch.no_grad()
def answer_token_losses(model: GPT | LSTM, prompts: Sequence[str], answers: Sequence[str]) -> torch.Tensor:
    """-ln p of every answer token and the newline after it (1-D, nats), by teacher forcing.

    Each line ``prompt + answer + "\\n"`` runs in one right-padded forward pass; the loss
    of each answer token (and of the newline that ends the line) is read given the
    prompt and the answer's earlier tokens.
    """
    if len(prompts) != len(answers) or not prompts:
        raise ValueError(f"prompts and answers must be non-empty and of the same length, got {len(prompts)} and {len(answers)}")
    lines = [encode(prompt + answer + "\n").astype(np.int64) for prompt, answer in zip(prompts, answers)]
    starts = [len(encode(prompt)) for prompt in prompts]
    if min(starts) == 0:
        raise ValueError("prompts must be non-empty strings")
    inputs = torch.zeros(len(lines), max(map(len, lines)) - 1, dtype=torch.long)
    for row, tokens in enumerate(lines):
        inputs[row, : len(tokens) - 1] = torch.from_numpy(tokens[:-1])
    model.eval()
    logits, _ = model(inputs.to(next(model.parameters()).device))
    log_probs = logits.float().log_softmax(dim=-1).cpu()
    return torch.cat([
        -log_probs[row, torch.arange(start - 1, len(tokens) - 1), torch.from_numpy(tokens[start:])]
        for row, (start, tokens) in enumerate(zip(starts, lines))
    ])


@torch.no_grad()
def sample(
    model: GPT | LSTM,
    prompt: bytes | str,
    n_tokens: int,
    *,
    temperature: float = 1.0,
    seed: int = 0,
) -> str:
    """``prompt`` followed by ``n_tokens`` sampled byte tokens, decoded as UTF-8 text.

    Each token is drawn from ``softmax(logits / temperature)`` given the last ``n_ctx``
    tokens; ``temperature=0`` takes the most likely token. Seeded by ``seed``. An empty
    prompt starts from a newline.
    """
    n_tokens = positive_int("n_tokens", n_tokens)
    temperature = non_negative_float("temperature", temperature)
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(non_negative_int("seed", seed))
    tokens = torch.from_numpy(encode(prompt or "\n")).long().to(device)[None]
    model.eval()
    for _ in range(n_tokens):
        logits, _ = model(tokens[:, -model.config.n_ctx :])
        last = logits[0, -1].float()
        if temperature == 0:
            token = last.argmax()[None]
        else:
            token = torch.multinomial(torch.softmax(last / temperature, dim=-1), 1, generator=generator)
        tokens = torch.cat([tokens, token[None]], dim=1)
    return decode(tokens[0])


def attention_patterns(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """Softmax attention weights of every head on ``idx`` (shape (1, T)): (n_layer, n_head, T, T), on the CPU.

    Entry [l, h, i, j] is the weight that head h of block l puts on position j when
    computing position i (:meth:`scalinglab.model.GPT.attention_weights`), in eval mode.
    The model's mode is restored afterwards.
    """
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a GPT (an LSTM has no attention), got {type(model).__name__}")
    if idx.dim() != 2 or idx.shape[0] != 1 or not 1 <= idx.shape[1] <= model.config.n_ctx:
        raise ValueError(f"idx must have shape (1, T) with T <= n_ctx={model.config.n_ctx}, got {tuple(idx.shape)}")
    was_training = model.training
    try:
        model.eval()
        weights = model.attention_weights(idx.to(next(model.parameters()).device))
    finally:
        model.train(was_training)
    return weights[:, 0].cpu()
