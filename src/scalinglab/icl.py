"""In-context learning: loss along the context, few-shot tasks, induction heads.

Three views of a model getting better at predicting *from its context*:

**Loss along the context.** :func:`loss_per_position` measures the mean loss (nats)
at each position t of the context; Kaplan et al. (2020, sec. 6) found that for a
transformer it falls as a power law plus a constant,

    L(t) = E + (t0 / t)^alpha,        t = 1, 2, ..., n_ctx (1-based positions),

which :func:`fit_position_power_law` fits. :func:`icl_score` is Olsson et al.'s
(2022) one-number summary: loss late in the context minus loss early in it (they
use token 500 minus token 50); the more negative, the more the context helps.

**Few-shot tasks.** :func:`evaluate_few_shot` scores a model's greedy completions of
the k-shot prompts of :mod:`scalinglab.tasks` by exact match, and
:func:`few_shot_table` does so for every task, several k, with and without the task's
description.

**Induction heads.** On a random sequence repeated twice, an induction head at
position i of the second copy attends to the token *after* the previous occurrence
of the current token, j = i - length + 1, and copies it (Olsson et al. 2022).
:func:`prefix_matching_scores` measures how much each head does that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ._checks import non_negative_int, positive_float, positive_int
from .data import encode, decode
from .fit import PowerLawFit, fit_power_law
from .model import GPT, LSTM
from .tasks import DEFAULT_WORDS, EVALUATION_WORDS, TASK_NAMES, FewShotTask, render_prompt
from .train import evaluate

# ---------------------------------------------------------------------------
# Loss along the context


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
        window_starts = torch.as_tensor(np.asarray(starts, dtype=np.int64))
        last = len(tokens) - n_ctx - 1
        if window_starts.ndim != 1 or len(window_starts) == 0 or not 0 <= int(window_starts.min()) <= int(window_starts.max()) <= last:
            raise ValueError(f"starts must be a non-empty 1-D array of window starts in 0..len(tokens) - n_ctx - 1 = {last}")
    device = str(next(model.parameters()).device)
    return evaluate(model, torch.tensor(tokens), window_starts, n_ctx, batch_size, device)


def _loss_curve(loss_per_position: np.ndarray) -> np.ndarray:
    curve = np.asarray(loss_per_position, dtype=float)
    if curve.ndim != 1 or len(curve) < 2 or not np.all(np.isfinite(curve)):
        raise ValueError(f"loss_per_position must be a 1-D array of at least 2 finite losses, got shape {curve.shape}")
    return curve


def fit_position_power_law(
    loss_per_position: np.ndarray, *, start: int = 1, n_bootstrap: int = 0, seed: int = 0
) -> PowerLawFit:
    """Fit L(t) = E + (t0 / t)^alpha to the loss at positions t = start..n_ctx.

    Positions are 1-based: ``loss_per_position[t - 1]`` is the loss at position t
    (predicting token t+1 from t tokens), and ``n_ctx = len(loss_per_position)``. The
    fit's ``x0`` is t0, in tokens; ``E`` and the losses are in nats/token. Uses
    :func:`scalinglab.fit.fit_power_law` (``n_bootstrap`` resamples of the positions
    for its ``intervals``), which needs at least 3 positions, so
    ``1 <= start <= n_ctx - 2``. A curve that does not fall along the context has no
    meaningful exponent: look at the intervals.
    """
    curve = _loss_curve(loss_per_position)
    if positive_int("start", start) > len(curve) - 2:
        raise ValueError(f"start must be a position in 1..n_ctx - 2 = {len(curve) - 2}, got {start!r}")
    positions = np.arange(start, len(curve) + 1)
    return fit_power_law(positions, curve[start - 1 :], n_bootstrap=n_bootstrap, seed=seed)


def binned_along_context(loss_per_position: np.ndarray, *, n_bins: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Loss averaged over log-spaced bins of position: (bin centre positions, mean loss per bin).

    A single position's loss is the mean over the evaluation windows only, so it is
    noisy; late positions are many, so on a log axis one wants their average. Bin edges
    are ``n_bins + 1`` log-spaced positions from 1 to n_ctx + 1 (rounded, duplicates
    dropped, so early bins hold single positions); a bin's centre is the geometric
    mean of its first and last position.
    """
    curve = _loss_curve(loss_per_position)
    firsts, lasts = _log_bins(len(curve), n_bins)
    means = np.array([curve[a - 1 : b].mean() for a, b in zip(firsts, lasts)])
    return np.sqrt(firsts * lasts), means


def _log_bins(n_ctx: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last positions (1-based, inclusive) of the log-spaced bins over 1..n_ctx."""
    edges = np.unique(np.round(np.geomspace(1, n_ctx + 1, positive_int("n_bins", n_bins) + 1)).astype(int))
    return edges[:-1], edges[1:] - 1


def context_plateau(loss_per_position: np.ndarray, *, tolerance_nats: float = 0.02, n_bins: int = 24) -> int:
    """The first position from which more context helps by less than ``tolerance_nats``.

    On the binned curve (:func:`binned_along_context`), the first position of the
    first bin whose loss is within ``tolerance_nats`` of the last bin's and stays so
    in every later bin. For an LSTM this is where it stops using its context (about
    a hundred tokens in Kaplan et al. 2020, fig. 20); a transformer that keeps improving
    along the context reaches it only near n_ctx.
    """
    tolerance = positive_float("tolerance_nats", tolerance_nats)
    _, means = binned_along_context(loss_per_position, n_bins=n_bins)
    firsts, _ = _log_bins(len(loss_per_position), n_bins)
    above = np.flatnonzero(means - means[-1] > tolerance)
    return int(firsts[0 if len(above) == 0 else above[-1] + 1])


def _position(name: str, value: object, n_ctx: int) -> int:
    if positive_int(name, value) > n_ctx:
        raise ValueError(f"{name} must be a position in 1..n_ctx = {n_ctx}, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def icl_score(loss_per_position: np.ndarray, *, early: int | None = None, late: int | None = None) -> float:
    """In-context learning score: L(late) - L(early), in nats/token (negative = context helps).

    Olsson et al. (2022) use late = 500 and early = 50 in a 512-token context; by default
    both are scaled to this context, early = max(1, round(50/512 n_ctx)) and
    late = round(500/512 n_ctx). Positions are 1-based, ``1 <= early < late <= n_ctx``.
    """
    curve = _loss_curve(loss_per_position)
    n_ctx = len(curve)
    early = _position("early", max(1, round(50 / 512 * n_ctx)) if early is None else early, n_ctx)
    late = _position("late", round(500 / 512 * n_ctx) if late is None else late, n_ctx)
    if late <= early:
        raise ValueError(f"late must come after early={early}, got {late}")
    return float(curve[late - 1] - curve[early - 1])


# ---------------------------------------------------------------------------
# Few-shot evaluation


def exact_match(completions: Sequence[str], answers: Sequence[str]) -> float:
    """Fraction of ``completions`` equal, character for character, to their ``answers``."""
    if len(completions) != len(answers) or not answers:
        raise ValueError(
            f"completions and answers must be non-empty and of the same length, got {len(completions)} and {len(answers)}"
        )
    return sum(c == a for c, a in zip(completions, answers)) / len(answers)


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


def evaluate_few_shot(
    model: GPT | LSTM,
    task: FewShotTask | str,
    k: int,
    *,
    n_prompts: int,
    seed: int,
    with_description: bool,
    vocabulary: Sequence[str] = DEFAULT_WORDS,
) -> float:
    """Exact-match accuracy of the model's greedy answers to ``n_prompts`` k-shot prompts.

    Prompt i is ``render_prompt(task, k, seed=s_i, ...)`` with the s_i drawn from
    ``seed``. The model writes up to len(answer) + 1 tokens greedily, stopping at a
    newline; the answer counts only if what it wrote before the newline is exactly
    the answer. Raises ``ValueError`` naming ``k`` if a prompt plus its answer does
    not fit in the model's context (``config.n_ctx``).
    """
    n_prompts, seed = positive_int("n_prompts", n_prompts), non_negative_int("seed", seed)
    seeds = np.random.SeedSequence(seed).generate_state(n_prompts).tolist()
    rendered = [
        render_prompt(task, k, seed=s, with_description=with_description, vocabulary=vocabulary) for s in seeds
    ]
    n_ctx = model.config.n_ctx
    longest = max(len(encode(prompt + answer)) for prompt, answer in rendered)
    if longest > n_ctx:
        raise ValueError(f"k={k} examples make a prompt plus answer of {longest} tokens, more than n_ctx={n_ctx}")
    prompts, answers = zip(*rendered)
    completions = greedy_completions(model, prompts, [len(encode(a)) + 1 for a in answers])
    return exact_match(completions, answers)


FEW_SHOT_KS: tuple[int, ...] = (0, 1, 2, 4, 8, 16)
"""The numbers of in-context examples that :func:`few_shot_table` tries by default."""


def few_shot_table(
    model: GPT | LSTM,
    *,
    ks: Sequence[int] = FEW_SHOT_KS,
    tasks: Sequence[str] = TASK_NAMES,
    n_prompts: int = 50,
    seed: int = 0,
    vocabulary: Sequence[str] = EVALUATION_WORDS,
) -> dict[str, object]:
    """Exact-match accuracy for every task and k, with and without the task description.

    Returns plain JSON: ``{"ks": [...], "n_prompts": n, "seed": s, "accuracy": {task:
    {"with_description": [one accuracy per k], "without_description": [...]}}}``, each
    accuracy from :func:`evaluate_few_shot` on ``n_prompts`` prompts over
    ``vocabulary`` (by default the held-out words, which no ``"fewshot"`` training
    document uses). The same prompt seeds serve every k, task and description.
    """
    ks = [non_negative_int("ks", k) for k in ks]
    if not ks or not tasks:
        raise ValueError("ks and tasks must each hold at least one entry")
    accuracy = {
        task: {
            f"{'with' if described else 'without'}_description": [
                evaluate_few_shot(
                    model, task, k, n_prompts=n_prompts, seed=seed, with_description=described, vocabulary=vocabulary
                )
                for k in ks
            ]
            for described in (True, False)
        }
        for task in tasks
    }
    return {"ks": ks, "n_prompts": n_prompts, "seed": seed, "accuracy": accuracy}


# ---------------------------------------------------------------------------
# Induction heads


REPEAT_ALPHABET = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
"""The bytes a repeated random sequence is drawn from: letters and digits, which every
text corpus here contains (a byte the model never saw in training has an untrained
embedding, and would test that rather than induction)."""


def repeated_random_sequence(length: int, *, seed: int, alphabet: bytes = REPEAT_ALPHABET) -> torch.Tensor:
    """``length`` tokens drawn uniformly from ``alphabet``, then the same again: int64, shape (1, 2 length)."""
    length = positive_int("length", length)
    if not isinstance(alphabet, bytes) or not alphabet:
        raise ValueError(f"alphabet must be non-empty bytes, got {alphabet!r}")
    generator = torch.Generator().manual_seed(non_negative_int("seed", seed))
    half = torch.tensor(list(alphabet))[torch.randint(0, len(alphabet), (length,), generator=generator)]
    return torch.cat([half, half])[None]


@torch.no_grad()
def attention_patterns(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """Softmax attention weights of every head on ``idx`` (shape (1, T)): (n_layer, n_head, T, T).

    Entry [l, h, i, j] is the weight that head h of block l puts on position j when
    computing position i: softmax_j(q_i . k_j / sqrt(d_head)) over j <= i (zero for
    j > i), with q and k from the block's own ``qkv`` projection of the input it saw
    during a forward pass in eval mode. The model is not changed.
    """
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a GPT (an LSTM has no attention), got {type(model).__name__}")
    if idx.dim() != 2 or idx.shape[0] != 1 or not 1 <= idx.shape[1] <= model.config.n_ctx:
        raise ValueError(f"idx must have shape (1, T) with T <= n_ctx={model.config.n_ctx}, got {tuple(idx.shape)}")
    inputs: list[torch.Tensor] = []
    hooks = [
        block.attn.register_forward_hook(lambda module, args, output: inputs.append(args[0]))
        for block in model.blocks
    ]
    was_training = model.training
    try:
        model.eval()
        model(idx.to(next(model.parameters()).device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return torch.stack([_head_patterns(block.attn, x)[0] for block, x in zip(model.blocks, inputs)]).cpu()


def _head_patterns(attn: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Causal softmax(q k^T / sqrt(d_head)) of ``attn`` on its input x: (batch, n_head, T, T)."""
    batch, time, width = x.shape
    q, k, _ = attn.qkv(x).split(width, dim=2)
    q, k = (t.view(batch, time, attn.n_head, width // attn.n_head).transpose(1, 2) for t in (q, k))
    scores = (q @ k.transpose(-2, -1)).float() / math.sqrt(width // attn.n_head)
    future = torch.ones(time, time, dtype=torch.bool, device=x.device).triu(diagonal=1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1)


def prefix_matching_score(pattern: torch.Tensor | np.ndarray, length: int) -> float:
    """Mean attention from the second copy of a repeated sequence to the token after the first.

    For one head's (T, T) pattern on a sequence of ``length`` tokens repeated twice
    (T = 2 length, 0-based positions), the mean over i = length..2 length - 1 of
    pattern[i, i - length + 1]: 1 for a perfect induction head, about
    ln(2) / length for a head that spreads its attention uniformly over the past.
    """
    length = positive_int("length", length)
    pattern = np.asarray(pattern.detach().cpu() if isinstance(pattern, torch.Tensor) else pattern, dtype=float)
    if pattern.shape != (2 * length, 2 * length):
        raise ValueError(f"pattern must have shape (2 length, 2 length) = {(2 * length,) * 2}, got {pattern.shape}")
    rows = np.arange(length, 2 * length)
    return float(pattern[rows, rows - length + 1].mean())


def prefix_matching_scores(
    model: GPT, *, length: int = 32, seed: int = 0, alphabet: bytes = REPEAT_ALPHABET
) -> np.ndarray:
    """:func:`prefix_matching_score` of every head, shape (n_layer, n_head), on one repeated random sequence.

    The sequence is ``repeated_random_sequence(length, seed=seed, alphabet=alphabet)``;
    it needs 2 length <= n_ctx.
    """
    length = positive_int("length", length)
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a GPT (an LSTM has no attention), got {type(model).__name__}")
    if 2 * length > model.config.n_ctx:
        raise ValueError(f"length must be at most n_ctx / 2 = {model.config.n_ctx // 2}, got {length}")
    idx = repeated_random_sequence(length, seed=seed, alphabet=alphabet)
    patterns = attention_patterns(model, idx).numpy()
    return np.array([[prefix_matching_score(head, length) for head in layer] for layer in patterns])


def induction_mass(pattern: torch.Tensor | np.ndarray, tokens: torch.Tensor | np.ndarray) -> float:
    """Attention that one head puts on the tokens that followed earlier occurrences of the current token.

    For a head's (T, T) pattern on the sequence ``tokens`` (length T), position i's
    induction targets are S_i = {j : 1 <= j <= i, tokens[j - 1] == tokens[i]}: where the
    current token occurred before, one step on. The score is the mean over positions
    with a non-empty S_i of the attention mass on S_i. An induction head that copies
    from every earlier occurrence (a *statistical* induction head, Edelman et al. 2024)
    scores 1; on a sequence repeated twice with distinct tokens, S_i is the single
    position :func:`prefix_matching_score` looks at. A head attending uniformly scores
    about the fraction of earlier tokens equal to the current one (1/4 on a 4-letter
    source).
    """
    pattern = np.asarray(pattern.detach().cpu() if isinstance(pattern, torch.Tensor) else pattern, dtype=float)
    tokens = np.asarray(tokens.detach().cpu() if isinstance(tokens, torch.Tensor) else tokens).reshape(-1)
    if pattern.shape != (len(tokens), len(tokens)) or len(tokens) < 2:
        raise ValueError(f"pattern must have shape (T, T) with T = len(tokens) >= 2, got {pattern.shape} for T = {len(tokens)}")
    # targets[i, j] is True where j is in S_i.
    targets = np.zeros(pattern.shape, dtype=bool)
    targets[:, 1:] = tokens[None, :-1] == tokens[:, None]
    targets &= np.tri(len(tokens), dtype=bool)
    rows = targets.any(axis=1)
    if not rows.any():
        raise ValueError("tokens must repeat at least one token, or no position has an induction target")
    return float((pattern * targets).sum(axis=1)[rows].mean())


def induction_mass_scores(model: GPT, tokens: torch.Tensor | np.ndarray) -> np.ndarray:
    """:func:`induction_mass` of every head, shape (n_layer, n_head), on one sequence of ``tokens``."""
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a GPT (an LSTM has no attention), got {type(model).__name__}")
    idx = torch.as_tensor(np.asarray(tokens, dtype=np.int64)).reshape(1, -1)
    patterns = attention_patterns(model, idx).numpy()
    return np.array([[induction_mass(head, idx[0]) for head in layer] for layer in patterns])


def previous_token_scores(model: GPT, tokens: torch.Tensor | np.ndarray) -> np.ndarray:
    """Mean attention from each position i >= 1 to i - 1, per head: shape (n_layer, n_head).

    A previous-token head (score near 1) is the partner of an induction head: it writes
    "the token before me" into each position, which an induction head in a later layer
    matches against the current token (Olsson et al. 2022).
    """
    idx = torch.as_tensor(np.asarray(tokens, dtype=np.int64)).reshape(1, -1)
    if idx.shape[1] < 2:
        raise ValueError(f"tokens must hold at least 2 tokens, got {idx.shape[1]}")
    patterns = attention_patterns(model, idx).numpy()
    positions = np.arange(1, idx.shape[1])
    return patterns[:, :, positions, positions - 1].mean(axis=-1)


def induction_probe(model: GPT, tokens: torch.Tensor | np.ndarray) -> dict[str, object]:
    """Plain-JSON record of the induction circuit on one sequence of ``tokens``.

    Holds the tokens, every head's :func:`induction_mass` and :func:`previous_token_scores`
    (lists of lists, layer by layer), the layer and head with the largest induction mass,
    and that head's attention pattern (T x T, rounded to 4 decimals), so that a chapter
    can draw the head of a recorded run without its weights.
    """
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
    mass = induction_mass_scores(model, tokens)
    layer, head = (int(i) for i in np.unravel_index(mass.argmax(), mass.shape))
    pattern = attention_patterns(model, torch.as_tensor(tokens)[None])[layer, head].numpy()
    return {
        "tokens": tokens.tolist(),
        "induction_mass": mass.round(4).tolist(),
        "previous_token": previous_token_scores(model, tokens).round(4).tolist(),
        "best_layer": layer,
        "best_head": head,
        "pattern": pattern.round(4).tolist(),
    }
