"""Tests of scalinglab.tasks: few-shot prompts, the held-out words, exact match, and the documents
that teach the tasks (the "fewshot" corpus)."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.corpora import CorpusConfig, clear_cache, decode, make_corpus
from scalinglab.tasks import (
    DEFAULT_WORDS,
    EVALUATION_WORDS,
    TASKS,
    TRAINING_WORDS,
    exact_match,
    render_prompt,
    task_document,
)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_prompts_are_deterministic_given_the_seed_and_differ_across_seeds(task):
    first = render_prompt(task, 5, seed=3, with_description=False)
    assert first == render_prompt(TASKS[task], 5, seed=3, with_description=False)
    assert first != render_prompt(task, 5, seed=4, with_description=False)


@pytest.mark.parametrize("k", [0, 1, 4])
def test_prompts_have_k_examples_then_a_query_and_the_description_only_when_asked(k):
    task = TASKS["last_letter"]
    plain, answer = render_prompt(task, k, seed=0, with_description=False)
    described, same_answer = render_prompt(task, k, seed=0, with_description=True)
    assert answer == same_answer and described == f"\n{task.description}{plain}"
    assert plain.startswith("\n")
    lines = plain[1:].split("\n")
    assert len(lines) == k + 1 and task.description not in plain
    query = lines[-1]
    assert query.endswith(" -> ") and query[: -len(" -> ")][-1] == answer
    for line in lines[:-1]:
        word, output = line.split(" -> ")
        assert output == word[-1] and word in DEFAULT_WORDS


def test_each_task_applies_its_rule():
    examples = {}
    for name in ("copy", "first_letter", "code"):
        prompt, answer = render_prompt(name, 8, seed=1, with_description=False, vocabulary=("cat", "tact", "act"))
        lines = prompt[1:].split("\n")
        examples[name] = [line.split(" -> ") for line in lines[:-1]] + [[lines[-1][:-4], answer]]
    assert all(x == y for x, y in examples["copy"])
    assert all(y == x[0] for x, y in examples["first_letter"])
    mapping = {}
    for x, y in examples["code"]:
        assert len(y) == 1 and mapping.setdefault(x[0], y) == y
    assert len(set(mapping.values())) == len(mapping) >= 2  # distinct first letters, coded apart


def test_the_letter_code_is_drawn_afresh_for_each_prompt():
    answers = {render_prompt("code", 0, seed=s, with_description=False, vocabulary=("cat",))[1] for s in range(8)}
    assert len(answers) > 1


def test_exact_match_counts_identical_strings_only():
    assert exact_match(["tac", "god"], ["tac", "god"]) == 1.0
    assert exact_match(["tac", "go", "x", "Tac"], ["tac", "god", "x ", "tac"]) == 0.25
    assert exact_match([""], ["a"]) == 0.0
    with pytest.raises(ValueError, match="^completions"):
        exact_match(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="^completions"):
        exact_match([], [])


def test_default_words_are_distinct_short_lowercase_words():
    assert 180 <= len(DEFAULT_WORDS) == len(set(DEFAULT_WORDS))
    assert all(w.isascii() and w.isalpha() and w.islower() and len(w) <= 6 for w in DEFAULT_WORDS)


def test_the_evaluation_words_are_held_out_of_the_training_words():
    assert set(EVALUATION_WORDS).isdisjoint(TRAINING_WORDS)
    assert set(EVALUATION_WORDS) | set(TRAINING_WORDS) == set(DEFAULT_WORDS)
    assert len(EVALUATION_WORDS) == len(DEFAULT_WORDS) // 5


def _parse(document: str) -> tuple[str | None, list[tuple[str, str]]]:
    """(description or None, example pairs) of a task document."""
    assert document.startswith("\n") and document.endswith("\n")
    lines = document[1:-1].split("\n")
    description = lines.pop(0) if " -> " not in lines[0] else None
    return description, [tuple(line.split(" -> ")) for line in lines]


def _follows(task: str, pairs: list[tuple[str, str]]) -> bool:
    if task != "code":
        return all(TASKS[task].rule([x], np.random.default_rng(0))[0] == y for x, y in pairs)
    mapping: dict[str, str] = {}
    return all(len(y) == 1 and mapping.setdefault(x[0], y) == y for x, y in pairs)


def test_task_documents_show_one_task_on_training_words_within_the_budget():
    rng = np.random.default_rng(0)
    described = 0
    for _ in range(200):
        document = task_document(rng, 120)
        description, pairs = _parse(document)
        assert len(pairs) >= 3 and all(x in TRAINING_WORDS for x, _ in pairs)
        if description is None:
            assert any(_follows(name, pairs) for name in TASKS)
        else:
            described += 1
            (task,) = [name for name, t in TASKS.items() if t.description == description]
            assert _follows(task, pairs)
        assert len(document) <= 120 < len(document) + 2 * max(map(len, TRAINING_WORDS)) + 5  # no room left
    assert 70 <= described <= 130


def test_task_documents_are_deterministic_and_reject_a_budget_too_small():
    assert task_document(np.random.default_rng(1), 200) == task_document(np.random.default_rng(1), 200)
    with pytest.raises(ValueError, match="^max_tokens"):
        task_document(np.random.default_rng(1), 10)
    with pytest.raises(ValueError, match="^description_probability"):
        task_document(np.random.default_rng(1), 200, description_probability=1.5)


def test_the_fewshot_corpus_is_made_of_task_documents():
    corpus = make_corpus(CorpusConfig(kind="fewshot", n_tokens=20_000, document_tokens=200, seed=0))
    assert len(corpus.train_tokens) + len(corpus.val_tokens) >= 20_000
    text = decode(corpus.train_tokens)
    assert text.startswith("\n") and " -> " in text
    assert set(text) <= set("abcdefghijklmnopqrstuvwxyz ->\n.ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    clear_cache()
    again = make_corpus(CorpusConfig(kind="fewshot", n_tokens=20_000, document_tokens=200, seed=0))
    assert again is not corpus  # built again, not taken from the cache
    assert np.array_equal(corpus.val_tokens, again.val_tokens) and np.array_equal(corpus.train_tokens, again.train_tokens)
    other = make_corpus(CorpusConfig(kind="fewshot", n_tokens=20_000, document_tokens=200, seed=1))
    assert not np.array_equal(corpus.train_tokens[:1000], other.train_tokens[:1000])
