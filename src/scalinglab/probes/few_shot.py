"""Few-shot learning: k-shot prompts scored by exact match, and the probe ``"few_shot"``.

`few_shot_outcomes` scores a model's greedy completions of the k-shot prompts of
:mod:`scalinglab.tasks` by exact match, and :func:`few_shot_table` does so for every
task, several k, with and without the task's description: the ``"few_shot"`` probe
records that table (with its defaults) at the end of a run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._checks import non_negative_int, positive_int
from ..corpora import encode
from ..inference import greedy_completions
from ..model import GPT, LSTM
from ..tasks import DEFAULT_WORDS, EVALUATION_WORDS, TASK_NAMES, FewShotTask, render_prompt
from .base import Probe, ProbeContext, register

DESCRIPTION_KEYS = {True: "with_description", False: "without_description"}
"""Whether the prompts had the task's description -> the key of its accuracies in a
:func:`few_shot_table`."""


def few_shot_outcomes(
    model: GPT | LSTM,
    task: FewShotTask | str,
    k: int,
    *,
    n_prompts: int,
    seed: int,
    with_description: bool,
    vocabulary: Sequence[str] = DEFAULT_WORDS,
) -> list[bool]:
    """Whether the model's greedy answer to each of ``n_prompts`` k-shot prompts is right.

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
    return [completion == answer for completion, answer in zip(completions, answers)]


FEW_SHOT_KS: tuple[int, ...] = (0, 1, 2, 4, 8, 16)
"""The numbers of in-context examples that :func:`few_shot_table` tries by default."""

FEW_SHOT_PROMPTS = 300
"""Prompts per task, k and description that the ``"few_shot"`` probe asks: a binomial
standard error of at most sqrt(0.25 / 300) = 0.029 on each accuracy."""


def few_shot_table(
    model: GPT | LSTM,
    *,
    ks: Sequence[int] = FEW_SHOT_KS,
    tasks: Sequence[str] = TASK_NAMES,
    n_prompts: int = FEW_SHOT_PROMPTS,
    seed: int = 0,
    vocabulary: Sequence[str] = EVALUATION_WORDS,
) -> dict[str, object]:
    """Exact-match accuracy for every task and k, with and without the task description.

    Returns plain JSON: ``{"ks": [...], "n_prompts": n, "seed": s, "accuracy": {task:
    {"with_description": [one accuracy per k], "without_description": [...]}},
    "correct": {task: {...: [one string per k]}}}``, each accuracy from
    :func:`few_shot_outcomes` on ``n_prompts`` prompts over ``vocabulary`` (by default
    the held-out words, which no ``"fewshot"`` training document uses), and each string
    of ``"correct"`` the outcomes prompt by prompt ("1" right, "0" wrong), so that an
    analysis can resample the prompts. The same prompt seeds serve every k, task,
    description and model.
    """
    ks = [non_negative_int("ks", k) for k in ks]
    if not ks or not tasks:
        raise ValueError("ks and tasks must each hold at least one entry")
    correct = {
        task: {
            DESCRIPTION_KEYS[described]: [
                "".join("1" if right else "0" for right in few_shot_outcomes(
                    model, task, k, n_prompts=n_prompts, seed=seed, with_description=described, vocabulary=vocabulary))
                for k in ks
            ]
            for described in DESCRIPTION_KEYS
        }
        for task in tasks
    }
    accuracy = {task: {key: [outcomes.count("1") / len(outcomes) for outcomes in by_k] for key, by_k in cells.items()}
                for task, cells in correct.items()}
    return {"ks": ks, "n_prompts": n_prompts, "seed": seed, "accuracy": accuracy, "correct": correct}


def _few_shot(context: ProbeContext) -> dict[str, object]:
    return few_shot_table(context.model)


PROBE = register(Probe(
    name="few_shot",
    when="end",
    measure=_few_shot,
    description=f"exact-match accuracy of every task at k = 0, 1, 2, 4, 8, 16, with and without the description, "
                f"on {FEW_SHOT_PROMPTS} prompts each (and each prompt's outcome)",
))
