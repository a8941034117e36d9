"""Tests of the skills: addition and its held-out split, made-up facts, skill documents and the
"skills" corpus (scalinglab.corpora.skills), and their scores (scalinglab.probes.skills)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from scalinglab.corpora import CorpusConfig, clear_cache, decode, make_corpus
from scalinglab.corpora.skills import (
    FACT_EXPONENT,
    HELD_OUT_FRACTION,
    MAX_DIGITS,
    Fact,
    addition_line,
    addition_problems,
    addition_split,
    fact_line,
    fact_probabilities,
    fact_table,
    operand_range,
    skill_document,
)
from scalinglab.model import GPT
from scalinglab.probes import skills
from scalinglab.probes.skills import addition_scores, digit_accuracy, fact_scores
from scalinglab.runs import GPTConfig

TINY = GPTConfig(n_layer=1, n_head=2, d_model=16, n_ctx=64)


@pytest.fixture(scope="module")
def tiny_gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(TINY)


def _parse(line: str) -> tuple[int, int, int]:
    question, total = line.rstrip("\n").split("=")
    a, b = question.split("+")
    return int(a), int(b), int(total)


# ---------------------------------------------------------------------------
# Addition


@pytest.mark.parametrize("n_digits", [1, 3, MAX_DIGITS])
def test_problems_have_n_digit_operands_and_their_lines_hold_the_right_sums(n_digits):
    for held_out in (True, False):
        for a, b in addition_problems(50, n_digits=n_digits, held_out=held_out, seed=0, rng_seed=1):
            line = addition_line(a, b)
            assert line.endswith("\n") and line.count("\n") == 1
            x, y, total = _parse(line)
            assert (x, y) == (a, b) and total == a + b
            assert len(str(a)) == len(str(b)) == n_digits and len(str(total)) in (n_digits, n_digits + 1)
    assert addition_line(347, 85) == "347+85=432\n"
    assert operand_range(1) == (0, 9) and operand_range(3) == (100, 999)


def test_held_out_and_training_problems_never_overlap_even_commuted():
    held = set(addition_problems(300, n_digits=2, held_out=True, seed=7, rng_seed=0))
    train = set(addition_problems(3000, n_digits=2, held_out=False, seed=7, rng_seed=1))
    assert held and train and not held & train
    assert not {(b, a) for a, b in held} & train
    for a, b in held:
        assert addition_split(a, b, held_out_fraction=0.1, seed=7) and addition_split(b, a, held_out_fraction=0.1, seed=7)
    for a, b in train:
        assert not addition_split(b, a, held_out_fraction=0.1, seed=7)


def test_the_split_holds_out_about_the_fraction_asked_and_depends_on_its_seed():
    pairs = [(a, b) for a in range(100, 200) for b in range(a, 200)]
    for fraction in (0.1, 0.5):
        held = np.mean([addition_split(a, b, held_out_fraction=fraction, seed=0) for a, b in pairs])
        assert held == pytest.approx(fraction, abs=0.02)
    first = [addition_split(a, b, held_out_fraction=0.5, seed=0) for a, b in pairs[:200]]
    assert first != [addition_split(a, b, held_out_fraction=0.5, seed=1) for a, b in pairs[:200]]


def test_problems_are_deterministic_given_the_seeds():
    draw = addition_problems(20, n_digits=3, held_out=False, seed=0, rng_seed=5)
    assert draw == addition_problems(20, n_digits=3, held_out=False, seed=0, rng_seed=5)
    assert draw != addition_problems(20, n_digits=3, held_out=False, seed=0, rng_seed=6)
    held = addition_problems(20, n_digits=3, held_out=True, seed=0, rng_seed=5)
    assert held != addition_problems(20, n_digits=3, held_out=True, seed=1, rng_seed=5)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_digits": 0}, "n_digits"),
        ({"n_digits": MAX_DIGITS + 1}, "n_digits"),
        ({"held_out_fraction": 0}, "held_out_fraction"),
        ({"held_out_fraction": 1}, "held_out_fraction"),
        ({"held_out_fraction": 0.001, "n_digits": 1}, "held_out_fraction"),  # no one-digit sum is held out
        ({"held_out": 1}, "held_out"),
        ({"n": 0}, "n"),
        ({"rng_seed": -1}, "rng_seed"),
    ],
)
def test_addition_problems_reject_bad_input(kwargs, name):
    arguments = {"n": 5, "n_digits": 2, "held_out": True, "seed": 0, "rng_seed": 0} | kwargs
    with pytest.raises(ValueError, match=f"^{name} "):
        addition_problems(**arguments)


def test_addition_split_and_line_reject_bad_input():
    with pytest.raises(ValueError, match="^held_out_fraction"):
        addition_split(1, 2, held_out_fraction=1.5, seed=0)
    with pytest.raises(ValueError, match="^a "):
        addition_split(-1, 2, held_out_fraction=0.1, seed=0)
    with pytest.raises(ValueError, match="^b "):
        addition_line(1, 2.0)


def test_digit_accuracy_aligns_digits_from_the_last():
    assert digit_accuracy(["432", "1000"], ["432", "1000"]) == 1.0
    assert digit_accuracy(["431"], ["432"]) == pytest.approx(2 / 3)
    assert digit_accuracy(["32"], ["432"]) == pytest.approx(2 / 3)  # the missing digit counts wrong
    assert digit_accuracy(["1432"], ["432"]) == 1.0  # extra leading digits are not counted
    assert digit_accuracy(["432=7"], ["432"]) == 1.0  # only the leading run of digits is read
    assert digit_accuracy(["", "x432"], ["12", "432"]) == 0.0
    assert digit_accuracy(["99", "1033"], ["98", "1032"]) == pytest.approx(4 / 6)  # pooled over all digits
    with pytest.raises(ValueError, match="^completions"):
        digit_accuracy(["1"], ["1", "2"])
    with pytest.raises(ValueError, match="^answers"):
        digit_accuracy(["1"], ["a"])


# ---------------------------------------------------------------------------
# Facts


def test_fact_table_has_distinct_pronounceable_subjects_and_is_deterministic():
    table = fact_table(500, seed=0)
    assert len(table) == 500 and len({fact.subject for fact in table}) == 500
    assert table == fact_table(500, seed=0) and table != fact_table(500, seed=1)
    assert fact_table(10, seed=0) == table[:10]
    for fact in table:
        assert 5 <= len(fact.subject) <= 8 and 4 <= len(fact.attribute) <= 6
        for word in (fact.subject, fact.attribute):
            vowels = [letter in "aeiou" for letter in word]
            assert all(x != y for x, y in zip(vowels, vowels[1:]))
    assert fact_line(Fact("bodaki", "rumo")) == "the colour of bodaki is rumo.\n"


def test_fact_probabilities_are_zipf_and_sum_to_one():
    p = fact_probabilities(100)
    assert p.sum() == pytest.approx(1.0) and np.all(np.diff(p) < 0)
    assert p[0] / p[9] == pytest.approx(10**1.1)
    assert fact_probabilities(3, exponent=2.0)[2] == pytest.approx(1 / 9 / (1 + 1 / 4 + 1 / 9))


def test_facts_reject_bad_input():
    with pytest.raises(ValueError, match="^n_facts"):
        fact_table(0, seed=0)
    with pytest.raises(ValueError, match="^n_facts"):
        fact_probabilities(0)
    with pytest.raises(ValueError, match="^exponent"):
        fact_probabilities(5, exponent=0)
    with pytest.raises(ValueError, match="^subject"):
        Fact("Bodaki", "rumo")
    with pytest.raises(ValueError, match="^attribute"):
        Fact("bodaki", "rumorumo")


# ---------------------------------------------------------------------------
# Documents


def _documents(n, max_tokens, facts, **kwargs):
    rng = np.random.default_rng(0)
    arguments = {"n_digits": 3, "facts": facts, "fact_exponent": 1.1, "held_out_fraction": 0.1, "seed": 0} | kwargs
    return [skill_document(rng, max_tokens, **arguments) for _ in range(n)]


@pytest.mark.parametrize("max_tokens", [35, 64, 256])
def test_documents_are_whole_lines_of_one_skill_within_budget(max_tokens):
    facts = fact_table(20, seed=0)
    lines_of_facts = {fact_line(fact) for fact in facts}
    kinds = []
    for document in _documents(60, max_tokens, facts):
        assert len(document.encode()) <= max_tokens and document.startswith("\n") and document.endswith("\n")
        lines = [line + "\n" for line in document[1:-1].split("\n")]
        assert lines[0] != "\n"
        if "+" in lines[0]:
            for line in lines:
                a, b, total = _parse(line)
                assert total == a + b and not addition_split(a, b, held_out_fraction=0.1, seed=0)
            kinds.append("addition")
        else:
            assert set(lines) <= lines_of_facts
            kinds.append("facts")
        longest_line = 13 if kinds[-1] == "addition" else 34
        assert len(document) + longest_line > max_tokens  # filled: the next line drawn did not fit
    assert 15 < kinds.count("addition") < 45


def test_documents_are_deterministic_and_favour_frequent_facts():
    facts = fact_table(50, seed=0)
    assert _documents(10, 128, facts) == _documents(10, 128, facts)
    text = "".join(_documents(200, 256, facts))
    assert text.count(fact_line(facts[0])) > 3 * text.count(fact_line(facts[20]))


def test_documents_never_show_a_held_out_sum():
    held = set(addition_problems(200, n_digits=2, held_out=True, held_out_fraction=0.3, seed=4, rng_seed=0))
    shown = set()
    for document in _documents(100, 256, fact_table(5, seed=0), n_digits=2, held_out_fraction=0.3, seed=4):
        shown |= {_parse(line)[:2] for line in document[1:-1].split("\n") if "+" in line}
    assert len(shown) > 200 and not (shown | {(b, a) for a, b in shown}) & held


def test_documents_reject_bad_input():
    facts = fact_table(5, seed=0)
    with pytest.raises(ValueError, match="^max_tokens"):
        _documents(1, 34, facts)  # the longest fact line is 34 bytes, plus the newline
    with pytest.raises(ValueError, match="^max_tokens"):
        _documents(1, 6 * 3 + 4, facts, n_digits=6)
    with pytest.raises(ValueError, match="^facts"):
        _documents(1, 64, ())
    with pytest.raises(ValueError, match="^facts"):
        _documents(1, 64, ["the colour of bodaki is rumo"])
    with pytest.raises(ValueError, match="^fact_exponent"):
        _documents(1, 64, facts, fact_exponent=-1.0)
    with pytest.raises(ValueError, match="^held_out_fraction"):
        _documents(1, 64, facts, held_out_fraction=1.0)
    with pytest.raises(ValueError, match="^n_digits"):
        _documents(1, 64, facts, n_digits=7)


def test_the_skills_corpus_mixes_training_sums_facts_and_text():
    config = CorpusConfig(kind="skills", n_tokens=100_000, n_digits=2, n_facts=50, text_fraction=0.3, seed=0)
    corpus = make_corpus(config)
    text = decode(np.concatenate([corpus.train_tokens, corpus.val_tokens]))
    sums = [line for line in text.split("\n") if re.fullmatch(r"\d\d\+\d\d=\d+", line)]
    assert len(sums) > 100 and text.count("the colour of ") > 100 and text.count(" the ") > 50
    for line in sums:
        left, total = line.split("=")
        a, b = map(int, left.split("+"))
        assert a + b == int(total) and not addition_split(a, b, held_out_fraction=HELD_OUT_FRACTION, seed=0)
    facts = {fact_line(fact) for fact in fact_table(50, seed=0)}
    assert {line + "\n" for line in text.split("\n") if line.startswith("the colour of ")} <= facts
    assert FACT_EXPONENT == 1.1 and HELD_OUT_FRACTION == 0.1
    clear_cache()
    again = make_corpus(config)
    assert again is not corpus and np.array_equal(again.train_tokens, corpus.train_tokens)


# ---------------------------------------------------------------------------
# Scores


def test_addition_scores_of_a_model_with_known_answers(stub_model):
    problems = addition_problems(40, n_digits=1, held_out=True, held_out_fraction=0.5, seed=0, rng_seed=3)
    answers = [str(a + b) for a, b in problems]
    scores = addition_scores(stub_model("1"), n_problems=40, n_digits=1, seed=3, held_out_fraction=0.5, split_seed=0)
    assert scores["exact_match"] == pytest.approx(np.mean([answer == "1" for answer in answers]))
    right = sum(answer[-1] == "1" for answer in answers)
    assert scores["digit_accuracy"] == pytest.approx(right / sum(map(len, answers)))
    assert 0 < scores["digit_accuracy"] and scores["exact_match"] < 1


def test_scores_of_a_uniform_model_are_zero_and_ln_256(stub_model):
    scores = addition_scores(stub_model(n_ctx=64), n_problems=10, n_digits=2, seed=0)
    assert scores == {"exact_match": 0.0, "digit_accuracy": 0.0, "answer_loss_nats": pytest.approx(math.log(256))}
    facts = fact_scores(stub_model(n_ctx=64), fact_table(6, seed=0), n_facts_to_test=4)
    assert facts == {"exact_match": 0.0, "answer_loss_nats": pytest.approx(math.log(256)), "exact_match_by_rank": [0] * 4}


def test_scores_count_exact_matches_by_rank(monkeypatch, tiny_gpt):
    facts = fact_table(6, seed=0)
    answers = [f"{fact.attribute}." for fact in facts]
    completions = [answers[0], answers[1][:-1], answers[2], "", answers[4] + "x", answers[5]]
    monkeypatch.setattr(skills, "greedy_completions", lambda model, prompts, limits: completions[: len(prompts)])
    scores = fact_scores(tiny_gpt, facts)
    assert scores["exact_match_by_rank"] == [1, 0, 1, 0, 0, 1] and scores["exact_match"] == 0.5
    assert fact_scores(tiny_gpt, facts, n_facts_to_test=2)["exact_match_by_rank"] == [1, 0]


def test_scores_of_an_untrained_gpt_are_json_and_the_loss_is_near_ln_256(tiny_gpt):
    scores = addition_scores(tiny_gpt, n_problems=12, n_digits=3, seed=0)
    assert json.loads(json.dumps(scores)) == scores
    assert abs(scores["answer_loss_nats"] - math.log(256)) < 0.3
    assert 0 <= scores["exact_match"] <= 1 and 0 <= scores["digit_accuracy"] <= 1
    batched = addition_scores(tiny_gpt, n_problems=12, n_digits=3, seed=0, batch_size=5)
    assert batched == {**scores, "answer_loss_nats": pytest.approx(scores["answer_loss_nats"], abs=1e-5)}
    facts = fact_scores(tiny_gpt, fact_table(8, seed=0))
    assert json.loads(json.dumps(facts)) == facts and len(facts["exact_match_by_rank"]) == 8
    assert abs(facts["answer_loss_nats"] - math.log(256)) < 0.3


def test_scores_reject_bad_input(tiny_gpt):
    short = GPT(GPTConfig(n_layer=1, n_head=2, d_model=16, n_ctx=10))
    with pytest.raises(ValueError, match="^model"):
        addition_scores(short, n_problems=2, n_digits=3, seed=0)  # "\n123+456=" + "579" is 12 tokens
    with pytest.raises(ValueError, match="^model"):
        fact_scores(short, fact_table(2, seed=0))
    with pytest.raises(ValueError, match="^n_problems"):
        addition_scores(tiny_gpt, n_problems=0, n_digits=3, seed=0)
    with pytest.raises(ValueError, match="^n_digits"):
        addition_scores(tiny_gpt, n_problems=2, n_digits=0, seed=0)
    with pytest.raises(ValueError, match="^n_facts_to_test"):
        fact_scores(tiny_gpt, fact_table(2, seed=0), n_facts_to_test=3)
    with pytest.raises(ValueError, match="^batch_size"):
        fact_scores(tiny_gpt, fact_table(2, seed=0), batch_size=0)
