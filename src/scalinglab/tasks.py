"""Few-shot word tasks: the prompts that test in-context learning, and the documents that teach it.

In the spirit of GPT-3's word-scrambling tasks (Brown et al. 2020), :func:`render_prompt`
writes ``k`` worked examples and a query::

                                           <- a newline: prompts start like documents
    Write the last letter.                 <- only with with_description=True
    cat -> t
    dog -> g
    sun ->                                 <- the model should write "n\\n"

The words come from :data:`DEFAULT_WORDS`, split once into :data:`TRAINING_WORDS`,
which the ``"fewshot"`` corpus (:func:`task_document`) uses, and the held-out
:data:`EVALUATION_WORDS` (every fifth word), so that a model scored on them must
apply the task to words it never saw it applied to.

The scores of a completion against its answer live here too, for every chapter that
scores answers: :func:`exact_match`, and :func:`digit_accuracy` for numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._checks import fraction, non_negative_int, positive_int

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

EVALUATION_WORDS: tuple[str, ...] = DEFAULT_WORDS[4::5]
"""The held-out words: every fifth word of :data:`DEFAULT_WORDS` (from the fifth on)."""

TRAINING_WORDS: tuple[str, ...] = tuple(w for i, w in enumerate(DEFAULT_WORDS) if i % 5 != 4)
"""The words the ``"fewshot"`` corpus uses: all of :data:`DEFAULT_WORDS` but the held-out ones."""


_LETTERS = "abcdefghijklmnopqrstuvwxyz"

Rule = Callable[[Sequence[str], np.random.Generator], list[str]]


def _copy(words: Sequence[str], rng: np.random.Generator) -> list[str]:
    return list(words)


def _first_letter(words: Sequence[str], rng: np.random.Generator) -> list[str]:
    return [word[0] for word in words]


def _last_letter(words: Sequence[str], rng: np.random.Generator) -> list[str]:
    return [word[-1] for word in words]


def _code(words: Sequence[str], rng: np.random.Generator) -> list[str]:
    """The first letter through a letter substitution (a permutation of a-z) drawn afresh each call."""
    table = str.maketrans(_LETTERS, "".join(rng.permutation(list(_LETTERS))))
    return [word[0].translate(table) for word in words]


@dataclass(frozen=True)
class FewShotTask:
    """A word-to-word task, learnable in context from ``input -> output`` examples.

    Attributes:
        name: key in :data:`TASKS`.
        description: the one-line instruction that can head a prompt.
        rule: maps the prompt's input words to their outputs, given the prompt's random
            generator (for tasks with per-prompt state, such as the letter code).
    """

    name: str
    description: str
    rule: Rule = field(repr=False)


TASKS: dict[str, FewShotTask] = {
    task.name: task
    for task in (
        FewShotTask("copy", "Repeat each word.", _copy),
        FewShotTask("first_letter", "Write the first letter.", _first_letter),
        FewShotTask("last_letter", "Write the last letter.", _last_letter),
        FewShotTask("code", "Write the first letter in code.", _code),
    )
}
"""The few-shot tasks by name: "copy" (cat -> cat), "first_letter" (cat -> c),
"last_letter" (cat -> t) and "code" (cat -> q: the first letter through a letter
substitution drawn afresh for each prompt or document, which only the examples can
reveal; a query whose first letter no example shows cannot be answered, so even a
perfect in-context learner's accuracy rises with k)."""

TASK_NAMES: tuple[str, ...] = tuple(TASKS)
"""The names of :data:`TASKS`, in order."""


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

    The prompt is a newline (every document of the ``"fewshot"`` corpus starts with
    one), the task's description and a newline (only if ``with_description``), ``k``
    lines ``"{input} -> {output}\\n"``, then the query ``"{input} -> "``; the answer is
    the query's output (without the newline that should follow it). The k + 1 input
    words are drawn from ``vocabulary`` without replacement when it has enough words,
    with replacement otherwise.
    """
    task, k, vocabulary = _task(task), non_negative_int("k", k), _vocabulary(vocabulary)
    if not isinstance(with_description, bool):
        raise ValueError(f"with_description must be True or False, got {with_description!r}")
    rng = np.random.default_rng(non_negative_int("seed", seed))
    chosen = rng.choice(len(vocabulary), size=k + 1, replace=k + 1 > len(vocabulary))
    inputs = [vocabulary[i] for i in chosen]
    outputs = task.rule(inputs, rng)
    header = f"{task.description}\n" if with_description else ""
    return f"\n{header}{_examples(inputs[:-1], outputs[:-1])}{inputs[-1]} -> ", outputs[-1]


def _examples(inputs: Sequence[str], outputs: Sequence[str]) -> str:
    return "".join(f"{x} -> {y}\n" for x, y in zip(inputs, outputs))


def task_document(
    rng: np.random.Generator,
    max_tokens: int,
    *,
    vocabulary: Sequence[str] = TRAINING_WORDS,
    description_probability: float = 0.5,
) -> str:
    """One training document of the ``"fewshot"`` corpus: a task shown by as many examples as fit.

    A task drawn uniformly from :data:`TASKS`; a newline; its description and a newline
    with probability ``description_probability``; then example lines
    ``"{input} -> {output}\\n"`` (input words drawn with replacement from ``vocabulary``,
    one letter code per document) while the document stays within ``max_tokens``
    bytes. A model trained on such documents meets prompts of :func:`render_prompt`
    with every k from 0 up.
    """
    vocabulary = _vocabulary(vocabulary)
    task = TASKS[TASK_NAMES[rng.integers(len(TASK_NAMES))]]
    header = f"\n{task.description}\n" if rng.random() < fraction("description_probability", description_probability) else "\n"
    longest_line = 2 * max(map(len, vocabulary)) + 5
    if positive_int("max_tokens", max_tokens) < len(header) + longest_line:
        raise ValueError(f"max_tokens must leave room for the header and one example line, got {max_tokens}")
    inputs = [vocabulary[i] for i in rng.integers(len(vocabulary), size=max_tokens // 5)]
    lines = [_examples([x], [y]) for x, y in zip(inputs, task.rule(inputs, rng))]
    n_lines = np.searchsorted(np.cumsum([len(line) for line in lines]), max_tokens - len(header), side="right")
    return header + "".join(lines[:n_lines])


def exact_match(completions: Sequence[str], answers: Sequence[str]) -> float:
    """Fraction of ``completions`` equal, character for character, to their ``answers``."""
    if len(completions) != len(answers) or not answers:
        raise ValueError(
            f"completions and answers must be non-empty and of the same length, got {len(completions)} and {len(answers)}"
        )
    return sum(c == a for c, a in zip(completions, answers)) / len(answers)


def _leading_digits(completion: str) -> str:
    return completion[: len(completion) - len(completion.lstrip("0123456789"))]


def digit_accuracy(completions: Sequence[str], answers: Sequence[str]) -> float:
    """Fraction of the answers' digits that the completions get right, aligned from the last digit.

    A completion's digits are its leading run of digits (``"432="`` reads as ``"432"``).
    Digit k from the right of an answer is right if the completion's digit k from the
    right equals it; a digit the completion lacks counts wrong, and extra leading
    digits are not counted (exact match catches them). Pooled over all answer digits.
    """
    if len(completions) != len(answers) or not answers:
        raise ValueError(
            f"completions and answers must be non-empty and of the same length, got {len(completions)} and {len(answers)}"
        )
    if not all(isinstance(answer, str) and answer.isascii() and answer.isdigit() for answer in answers):
        raise ValueError("answers must be non-empty strings of digits 0-9")
    right = sum(
        x == y
        for completion, answer in zip(completions, answers)
        for x, y in zip(reversed(_leading_digits(completion)), reversed(answer))
    )
    return right / sum(len(answer) for answer in answers)
