"""Scores of the emergence chapter's two skills, and the probe ``"skills"``.

Prompts start with a newline, as documents do: ``"\\n{a}+{b}="`` asks for ``"{a + b}"``
and ``"\\nthe colour of {subject} is "`` for ``"{attribute}."`` (the corpus is
:mod:`scalinglab.corpora.skills`). The model's greedy completion, cut at its newline, is
scored by exact match and (sums) by :func:`~scalinglab.tasks.digit_accuracy`; ``answer_loss_nats`` is the
mean over every answer token and the newline that ends the line of
-ln p(token | all before it), in nats/token, by teacher forcing (an untrained model
scores about ln 256 = 5.55).

Exact match is harsh: if a model writes each of the L tokens of an answer right with
probability p, it scores about p^L, which stays near 0 while p climbs and then shoots up,
whereas per-digit accuracy (about p) and the answer loss (about -ln p nats/token) improve
smoothly (Schaeffer et al. 2023).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._checks import positive_int
from ..corpora import encode
from ..corpora.skills import HELD_OUT_FRACTION, Fact, addition_problems, check_facts, fact_question, fact_table
from ..inference import answer_token_losses, greedy_completions
from ..model import GPT, LSTM
from ..runs import TrainConfig
from ..tasks import digit_accuracy, exact_match
from .base import Probe, ProbeContext, register

ADDITION_PROBLEMS = 500
"""Held-out sums the ``"skills"`` probe asks."""
ADDITION_SEED = 1
"""Seed of the held-out sums the probe draws."""


def _answer(
    model: GPT | LSTM, prompts: list[str], answers: list[str], batch_size: int
) -> tuple[list[str], float]:
    """Greedy completions of ``prompts`` (up to len(answer) + 1 tokens, cut at a newline) and the mean answer loss."""
    batch_size = positive_int("batch_size", batch_size)
    longest = max(len(encode(prompt + answer)) for prompt, answer in zip(prompts, answers))
    if longest > model.config.n_ctx:
        raise ValueError(f"model must have a context of at least {longest} tokens, got n_ctx={model.config.n_ctx}")
    completions: list[str] = []
    losses: list[torch.Tensor] = []
    for start in range(0, len(prompts), batch_size):
        batch = slice(start, start + batch_size)
        completions += greedy_completions(model, prompts[batch], [len(answer) + 1 for answer in answers[batch]])
        losses.append(answer_token_losses(model, prompts[batch], answers[batch]))
    return completions, float(torch.cat(losses).mean())


def addition_scores(
    model: GPT | LSTM,
    *,
    n_problems: int,
    n_digits: int,
    seed: int,
    held_out_fraction: float = HELD_OUT_FRACTION,
    split_seed: int = 0,
    batch_size: int = 256,
) -> dict[str, float]:
    """Exact match, digit accuracy and answer loss (nats/token) on ``n_problems`` held-out sums.

    The problems are ``addition_problems(n_problems, n_digits=n_digits, held_out=True,
    held_out_fraction=held_out_fraction, seed=split_seed, rng_seed=seed)``, so
    ``held_out_fraction`` and ``split_seed`` must be those the training documents used.
    Each prompt ``"\\n{a}+{b}="`` asks for ``"{a + b}"``; see the module docstring for
    the metrics. Prompts run in batches of ``batch_size``. Raises ``ValueError`` naming
    ``model`` if a prompt plus its answer does not fit in its context.
    Returns plain JSON: ``{"exact_match": ..., "digit_accuracy": ..., "answer_loss_nats": ...}``.
    """
    problems = addition_problems(
        positive_int("n_problems", n_problems),
        n_digits=n_digits,
        held_out=True,
        held_out_fraction=held_out_fraction,
        seed=split_seed,
        rng_seed=seed,
    )
    prompts = [f"\n{a}+{b}=" for a, b in problems]
    answers = [str(a + b) for a, b in problems]
    completions, loss = _answer(model, prompts, answers, batch_size)
    return {
        "exact_match": exact_match(completions, answers),
        "digit_accuracy": digit_accuracy(completions, answers),
        "answer_loss_nats": loss,
    }


def fact_scores(
    model: GPT | LSTM, facts: Sequence[Fact], *, n_facts_to_test: int | None = None, batch_size: int = 256
) -> dict[str, object]:
    """Recall of the ``n_facts_to_test`` most frequent ``facts`` (all by default), in rank order.

    Each prompt ``"\\nthe colour of {subject} is "`` asks for ``"{attribute}."``.
    Returns plain JSON: ``exact_match`` (the fraction recalled exactly),
    ``answer_loss_nats`` (nats/token over the attributes, their full stops and
    newlines) and ``exact_match_by_rank`` (1 or 0 per fact tested, most frequent
    first, for plotting recall against frequency). Prompts run in batches of
    ``batch_size``; raises ``ValueError`` naming ``model`` if one does not fit in its
    context.
    """
    facts = check_facts(facts)
    if n_facts_to_test is not None and positive_int("n_facts_to_test", n_facts_to_test) > len(facts):
        raise ValueError(f"n_facts_to_test must be at most the {len(facts)} facts, got {n_facts_to_test}")
    tested = facts[:n_facts_to_test]
    prompts = [f"\n{fact_question(fact)}" for fact in tested]
    answers = [f"{fact.attribute}." for fact in tested]
    completions, loss = _answer(model, prompts, answers, batch_size)
    return {
        "exact_match": exact_match(completions, answers),
        "answer_loss_nats": loss,
        "exact_match_by_rank": [int(completion == answer) for completion, answer in zip(completions, answers)],
    }


def _skills(context: ProbeContext) -> dict[str, object]:
    spec = context.config.corpus
    return {
        "addition": addition_scores(
            context.model, n_problems=ADDITION_PROBLEMS, n_digits=spec.n_digits, seed=ADDITION_SEED,
            held_out_fraction=HELD_OUT_FRACTION, split_seed=spec.seed,
        ),
        "facts": fact_scores(context.model, fact_table(spec.n_facts, seed=spec.seed)),
    }


def _needs_skills_corpus(config: TrainConfig) -> None:
    if config.corpus.kind != "skills":
        raise ValueError(f"probes: 'skills' needs a corpus of kind 'skills', got {config.corpus.kind!r}")


PROBE = register(Probe(
    name="skills",
    when="end",
    measure=_skills,
    description="exact match, digit accuracy and answer loss on 500 held-out sums; recall of every fact",
    check=_needs_skills_corpus,
))
