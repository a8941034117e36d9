"""In-context learning: loss along the context, few-shot tasks, induction heads.

Three views of a model getting better at predicting *from its context*:

**Loss along the context.** :func:`loss_per_position` measures the mean loss (nats)
at each position t of the context; Kaplan et al. (2020, sec. 6) found that for a
transformer it falls as a power law plus a constant,

    L(t) = E + (t0 / t)^alpha,        t = 1, 2, ..., n_ctx (1-based positions),

which :func:`fit_position_power_law` fits. :func:`icl_score` is Olsson et al.'s
(2022) one-number summary: loss late in the context minus loss early in it (they
use token 500 minus token 50); the more negative, the more the context helps.

**Few-shot tasks.** In the spirit of GPT-3's word-scrambling tasks (Brown et al.
2020), :func:`render_prompt` writes ``k`` worked examples and a query::

    Reverse the letters of each word.      <- only with with_description=True
    cat -> tac
    dog -> god
    sun ->                                 <- the model should write "nus\\n"

and :func:`evaluate_few_shot` scores the model's greedy completions by exact match.

**Induction heads.** On a random sequence repeated twice, an induction head at
position i of the second copy attends to the token *after* the previous occurrence
of the current token, j = i - length + 1, and copies it (Olsson et al. 2022).
:func:`prefix_matching_scores` measures how much each head does that.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ._checks import non_negative_int, positive_int
from .data import encode, decode
from .fit import PowerLawFit, fit_power_law
from .model import GPT, LSTM
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
    batch_size: int = 16,
) -> np.ndarray:
    """Mean loss (nats/token) at each of the ``n_ctx`` positions over random windows.

    Entry ``t - 1`` is the mean over ``n_windows`` windows of -ln p(x_t | x_1..x_{t-1}),
    the loss of predicting the window's token t+1 from the t tokens before it. Window
    starts are uniform over ``tokens`` (a 1-D array of byte tokens), drawn from
    ``seed``, so the result is deterministic. A GPT needs ``n_ctx <= config.n_ctx``;
    an LSTM can be measured past its training context.
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
    generator = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(tokens) - n_ctx, (n_windows,), generator=generator)
    device = str(next(model.parameters()).device)
    return evaluate(model, torch.tensor(tokens), starts, n_ctx, batch_size, device)


def _loss_curve(loss_per_position: np.ndarray) -> np.ndarray:
    curve = np.asarray(loss_per_position, dtype=float)
    if curve.ndim != 1 or len(curve) < 2 or not np.all(np.isfinite(curve)):
        raise ValueError(f"loss_per_position must be a 1-D array of at least 2 finite losses, got shape {curve.shape}")
    return curve


def fit_position_power_law(loss_per_position: np.ndarray, *, start: int = 1) -> PowerLawFit:
    """Fit L(t) = E + (t0 / t)^alpha to the loss at positions t = start..n_ctx.

    Positions are 1-based: ``loss_per_position[t - 1]`` is the loss at position t
    (predicting token t+1 from t tokens), and ``n_ctx = len(loss_per_position)``. The
    fit's ``x0`` is t0, in tokens; ``E`` and the losses are in nats/token. Uses
    :func:`scalinglab.fit.fit_power_law`, which needs at least 3 positions, so
    ``1 <= start <= n_ctx - 2``.
    """
    curve = _loss_curve(loss_per_position)
    if positive_int("start", start) > len(curve) - 2:
        raise ValueError(f"start must be a position in 1..n_ctx - 2 = {len(curve) - 2}, got {start!r}")
    positions = np.arange(start, len(curve) + 1)
    return fit_power_law(positions, curve[start - 1 :])


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
# Few-shot tasks

DEFAULT_WORDS: tuple[str, ...] = (
    "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her",
    "was", "one", "our", "out", "day", "get", "has", "him", "his", "how", "man", "new",
    "now", "old", "see", "two", "way", "who", "boy", "did", "its", "let", "put", "say",
    "she", "too", "use", "cat", "dog", "sun", "red", "big", "top", "box", "cup", "hat",
    "pen", "bed", "car", "bus", "map", "egg", "leg", "arm", "eye", "ear", "sky", "sea",
    "tree", "book", "fish", "bird", "milk", "door", "hand", "road", "rain", "snow", "wind",
    "fire", "star", "moon", "ship", "boat", "lake", "hill", "farm", "king", "song", "game",
    "ball", "bell", "cake", "coat", "desk", "duck", "face", "food", "gold", "home", "lamp",
    "leaf", "line", "lion", "nose", "park", "ring", "rock", "salt", "seed", "shoe", "sock",
    "wall", "word", "work", "year", "time", "city", "blue", "cold", "dark", "fast", "good",
    "hard", "kind", "long", "near", "open", "rich", "safe", "slow", "soft", "tall", "warm",
    "wide", "wild", "bread", "chair", "clock", "cloud", "dream", "earth", "field", "fruit",
    "glass", "grass", "heart", "horse", "house", "light", "money", "mouse", "music", "night",
    "ocean", "paper", "plant", "river", "sheep", "smile", "stone", "story", "table", "tiger",
    "train", "water", "world", "apple", "beach", "black", "brown", "green", "happy", "large",
    "quick", "quiet", "round", "sharp", "small", "sweet", "thick", "white", "young", "friend",
    "garden", "window", "mother", "father", "sister", "summer", "winter", "school", "market",
    "forest", "bridge", "flower", "letter", "number", "pencil", "rabbit", "silver", "street",
    "animal", "bottle", "button", "candle", "carpet", "circle", "dinner", "doctor", "family",
    "finger", "island", "jacket", "kitten", "ladder", "monkey", "orange", "people", "planet",
    "pocket", "castle", "rocket",
)
"""About 200 common short English words (lowercase ASCII letters), the default vocabulary."""

_LETTERS = "abcdefghijklmnopqrstuvwxyz"

Rule = Callable[[Sequence[str], np.random.Generator], list[str]]


def _copy(words: Sequence[str], rng: np.random.Generator) -> list[str]:
    return list(words)


def _reverse(words: Sequence[str], rng: np.random.Generator) -> list[str]:
    return [word[::-1] for word in words]


def _first_letter(words: Sequence[str], rng: np.random.Generator) -> list[str]:
    return [word[0] for word in words]


def _cipher(words: Sequence[str], rng: np.random.Generator) -> list[str]:
    """A letter substitution drawn afresh per prompt: a random permutation of a-z."""
    table = str.maketrans(_LETTERS, "".join(rng.permutation(list(_LETTERS))))
    return [word.translate(table) for word in words]


@dataclass(frozen=True)
class FewShotTask:
    """A word-to-word task, learnable in context from ``input -> output`` examples.

    Attributes:
        name: key in :data:`TASKS`.
        description: the one-line instruction that can head a prompt.
        rule: maps the prompt's input words to their outputs, given the prompt's random
            generator (for tasks with per-prompt state, such as a cipher).
    """

    name: str
    description: str
    rule: Rule = field(repr=False)


TASKS: dict[str, FewShotTask] = {
    task.name: task
    for task in (
        FewShotTask("copy", "Repeat each word.", _copy),
        FewShotTask("reverse", "Reverse the letters of each word.", _reverse),
        FewShotTask("first_letter", "Write the first letter of each word.", _first_letter),
        FewShotTask("cipher", "Replace every letter by its partner in a secret code.", _cipher),
    )
}
"""The few-shot tasks by name: "copy" (cat -> cat), "reverse" (cat -> tac),
"first_letter" (cat -> c), "cipher" (cat -> qxm, a letter substitution drawn afresh
per prompt, which the model can only infer from the examples; a query letter that no
example shows cannot be inferred, so its ceiling rises with k)."""


def _task(task: FewShotTask | str) -> FewShotTask:
    if isinstance(task, FewShotTask):
        return task
    if task not in TASKS:
        raise ValueError(f"task must be a FewShotTask or one of {', '.join(map(repr, TASKS))}, got {task!r}")
    return TASKS[task]


def _vocabulary(vocabulary: Sequence[str]) -> tuple[str, ...]:
    words = tuple(vocabulary)
    if not words or not all(isinstance(w, str) and w.isascii() and w.isalpha() and w.islower() for w in words):
        raise ValueError("vocabulary must be a non-empty sequence of lowercase ASCII words (letters a-z only)")
    return words


def render_prompt(
    task: FewShotTask | str,
    k: int,
    *,
    seed: int,
    with_description: bool,
    vocabulary: Sequence[str] = DEFAULT_WORDS,
) -> tuple[str, str]:
    """A ``k``-shot prompt for ``task`` and its answer, deterministic given ``seed``.

    The prompt is the task's description and a newline (only if ``with_description``),
    ``k`` lines ``"{input} -> {output}\\n"``, then the query ``"{input} -> "``; the
    answer is the query's output (without the newline that should follow it). The
    k + 1 input words are drawn from ``vocabulary`` without replacement when it has
    enough words, with replacement otherwise.
    """
    task, k, vocabulary = _task(task), non_negative_int("k", k), _vocabulary(vocabulary)
    if not isinstance(with_description, bool):
        raise ValueError(f"with_description must be True or False, got {with_description!r}")
    rng = np.random.default_rng(non_negative_int("seed", seed))
    chosen = rng.choice(len(vocabulary), size=k + 1, replace=k + 1 > len(vocabulary))
    inputs = [vocabulary[i] for i in chosen]
    outputs = task.rule(inputs, rng)
    header = f"{task.description}\n" if with_description else ""
    examples = "".join(f"{x} -> {y}\n" for x, y in zip(inputs[:-1], outputs[:-1]))
    return f"{header}{examples}{inputs[-1]} -> ", outputs[-1]


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


# ---------------------------------------------------------------------------
# Induction heads


def repeated_random_sequence(length: int, *, seed: int, vocab_size: int = 256) -> torch.Tensor:
    """``length`` uniformly random tokens, then the same tokens again: int64, shape (1, 2 length)."""
    length, vocab_size = positive_int("length", length), positive_int("vocab_size", vocab_size)
    generator = torch.Generator().manual_seed(non_negative_int("seed", seed))
    half = torch.randint(0, vocab_size, (length,), generator=generator)
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


def prefix_matching_scores(model: GPT, *, length: int = 32, seed: int = 0) -> np.ndarray:
    """:func:`prefix_matching_score` of every head, shape (n_layer, n_head), on one repeated random sequence.

    The sequence is ``repeated_random_sequence(length, seed=seed)`` over the model's
    vocabulary; it needs 2 length <= n_ctx.
    """
    length = positive_int("length", length)
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a GPT (an LSTM has no attention), got {type(model).__name__}")
    if 2 * length > model.config.n_ctx:
        raise ValueError(f"length must be at most n_ctx / 2 = {model.config.n_ctx // 2}, got {length}")
    idx = repeated_random_sequence(length, seed=seed, vocab_size=model.config.vocab_size)
    patterns = attention_patterns(model, idx).numpy()
    return np.array([[prefix_matching_score(head, length) for head in layer] for layer in patterns])
