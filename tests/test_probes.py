"""Tests of scalinglab.probes: the registry and its checks, a probe added from outside, and the
induction-head and few-shot probes' measurements (the skills probe: test_skills.py)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch

from scalinglab.corpora import CorpusConfig
from scalinglab.inference import attention_patterns
from scalinglab.model import GPT, LSTM
from scalinglab.probes import PROBES, Probe, ProbeContext, check_probes, register
from scalinglab.probes.few_shot import DESCRIPTION_KEYS, few_shot_outcomes, few_shot_table
from scalinglab.probes.induction import (
    REPEAT_ALPHABET,
    common_bytes,
    induction_mass,
    induction_mass_scores,
    induction_probe,
    prefix_matching_score,
    prefix_matching_scores,
    previous_token_scores,
    repeated_random_sequence,
)
from scalinglab.icl import ContextWindows
from scalinglab.runs import DEFAULT_EVALUATION_PROBES, GPTConfig, LSTMConfig, TrainConfig
from scalinglab.sweep import expand_grid
from scalinglab.train import train

TINY = GPTConfig(n_layer=2, n_head=2, d_model=16, n_ctx=64)

TINY_RUN = TrainConfig(
    model=GPTConfig(n_layer=1, n_head=2, d_model=16, n_ctx=16),
    corpus=CorpusConfig(kind="zipf", n_tokens=20_000, n_rules=50),
    tokens=4 * 16 * 8,
    batch_size=4,
    n_evals=3,
    eval_tokens=64,
    device="cpu",
)


@pytest.fixture(scope="module")
def tiny_gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(TINY)


# ---------------------------------------------------------------------------
# The registry


def test_the_registry_holds_the_seven_probes_each_with_when_it_runs():
    assert {name: probe.when for name, probe in PROBES.items()} == {
        "context_windows": "end",
        "icl_score": "evaluation",
        "prefix_matching": "evaluation",
        "induction_mass": "evaluation",
        "induction": "end",
        "few_shot": "end",
        "skills": "end",
    }
    assert all(PROBES[name].when == "evaluation" for name in DEFAULT_EVALUATION_PROBES)
    assert all(isinstance(probe, Probe) and probe.description for probe in PROBES.values())


def test_a_probe_declares_when_it_runs_and_is_registered_once():
    with pytest.raises(ValueError, match="^when must be one of 'evaluation', 'end', got 'never'"):
        Probe(name="x", when="never", measure=lambda context: None, description="x")
    with pytest.raises(ValueError, match="probe 'icl_score' is registered twice"):
        register(Probe(name="icl_score", when="evaluation", measure=lambda context: None, description="again"))
    assert PROBES["icl_score"].description.startswith("in-context learning score")


def test_probe_names_are_checked_by_check_probes_not_by_the_config():
    check_probes(TINY_RUN)
    check_probes(dataclasses.replace(TINY_RUN, evaluation_probes=(), probes=("induction", "few_shot")))
    skills_corpus = CorpusConfig(kind="skills", n_tokens=20_000)
    check_probes(dataclasses.replace(TINY_RUN, corpus=skills_corpus, probes=("skills",)))
    end = ", ".join(repr(name) for name, probe in PROBES.items() if probe.when == "end")
    evaluation = ", ".join(repr(name) for name, probe in PROBES.items() if probe.when == "evaluation")
    bad = [  # each config was made without complaint: TrainConfig does not know the probes
        (dataclasses.replace(TINY_RUN, probes=("attention",)), f"probes must name probes among {end}, got 'attention'"),
        (dataclasses.replace(TINY_RUN, evaluation_probes=("icl_score", "loss")),
         f"evaluation_probes must name probes among {evaluation}, got 'loss'"),
        (dataclasses.replace(TINY_RUN, evaluation_probes=("few_shot",)),  # an end probe at each evaluation
         f"evaluation_probes must name probes among {evaluation}, got 'few_shot'"),
        (dataclasses.replace(TINY_RUN, probes=("icl_score",)),  # an evaluation probe at the end
         f"probes must name probes among {end}, got 'icl_score'"),
        (dataclasses.replace(TINY_RUN, probes=("skills",)), "probes: 'skills' needs a corpus of kind 'skills', got 'zipf'"),
    ]
    for config, message in bad:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            check_probes(config)
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):  # training checks before it starts
            train(config)


def test_a_grid_naming_an_unknown_probe_fails_when_it_is_expanded():
    spec = {"base": {"tokens": 1000, "corpus": {"kind": "zipf"}}, "axes": {"probes": [[], ["inductoin"]]}}
    with pytest.raises(ValueError, match=r"^grid: probes must name probes among .*, got 'inductoin'$"):
        expand_grid(spec)
    with pytest.raises(ValueError, match="'skills' needs a corpus of kind 'skills'"):
        expand_grid({"base": {"tokens": 1000, "probes": ["skills"]}})


def test_a_probe_registered_from_outside_is_run_by_train_at_each_evaluation_and_at_the_end():
    """Adding a probe is one new file: a registered probe needs nothing else to be run."""
    seen: list[ProbeContext] = []

    def mean_loss(context: ProbeContext) -> float:
        seen.append(context)
        assert not context.model.training
        return float(np.mean(context.loss_per_position_nats))

    names = ("test_mean_loss", "test_window", "test_never")
    try:
        register(Probe(name="test_mean_loss", when="evaluation", measure=mean_loss, description="mean loss"))
        register(Probe(name="test_window", when="end", measure=lambda context: context.window.tolist(),
                       description="the first validation window"))
        register(Probe(name="test_never", when="evaluation", measure=lambda context: 1 / 0,
                       description="does not apply", applies=lambda config: False))
        config = dataclasses.replace(
            TINY_RUN, evaluation_probes=("icl_score", "test_mean_loss", "test_never"), probes=("test_window",)
        )
        grid = {"base": {"tokens": 1000, "evaluation_probes": ["test_mean_loss"], "probes": ["test_window"]}}
        assert expand_grid(grid)[0].evaluation_probes == ("test_mean_loss",)  # a grid may name it too
        result = train(config)
    finally:
        for name in names:
            PROBES.pop(name, None)
    assert result.val_probes["test_mean_loss"] == pytest.approx(result.val_loss_nats)
    assert len(result.val_probes["test_mean_loss"]) == len(result.val_loss_nats) == 3 == len(seen)
    assert set(result.val_probes) == {"icl_score", "test_mean_loss"}  # "test_never" does not apply
    window = result.probes["test_window"]
    assert len(window) == 16 and all(isinstance(token, int) for token in window)
    assert all(context.config == config and isinstance(context.model, GPT) for context in seen)
    assert "test_mean_loss" not in PROBES
    with pytest.raises(ValueError, match="got 'test_mean_loss'"):
        check_probes(config)


# ---------------------------------------------------------------------------
# Induction heads


def test_repeated_random_sequence_repeats_a_seeded_sequence():
    idx = repeated_random_sequence(10, seed=0, alphabet=b"xyz")
    assert idx.shape == (1, 20) and idx.dtype == torch.long
    assert torch.equal(idx[0, :10], idx[0, 10:]) and set(idx[0].tolist()) <= set(b"xyz")
    assert torch.equal(idx, repeated_random_sequence(10, seed=0, alphabet=b"xyz"))
    assert not torch.equal(idx, repeated_random_sequence(10, seed=1, alphabet=b"xyz"))
    assert set(repeated_random_sequence(100, seed=0)[0].tolist()) <= set(REPEAT_ALPHABET)
    with pytest.raises(ValueError, match="^length"):
        repeated_random_sequence(0, seed=0)
    with pytest.raises(ValueError, match="^alphabet"):
        repeated_random_sequence(4, seed=0, alphabet=b"")


def test_common_bytes_are_the_commonest_tokens_but_the_newline():
    tokens = np.frombuffer(b"\n\n\n\naaaabbbc\n" * 3, dtype=np.uint8)
    assert common_bytes(tokens) == b"abc" and common_bytes(tokens, most=2) == b"ab"
    assert common_bytes(np.frombuffer(b"\n\n", dtype=np.uint8)) == b""


def test_prefix_matching_score_is_one_for_an_induction_pattern_and_low_for_a_uniform_one():
    length = 32
    size = 2 * length
    induction = np.eye(size)  # first copy: attend to self
    for i in range(length, size):
        induction[i] = 0
        induction[i, i - length + 1] = 1
    assert prefix_matching_score(induction, length) == 1.0
    uniform = np.tril(np.ones((size, size))) / np.arange(1, size + 1)[:, None]
    score = prefix_matching_score(torch.from_numpy(uniform), length)
    assert score == pytest.approx(np.mean(1 / np.arange(length + 1, size + 1)))
    assert score < 0.03  # about ln(2) / length


def test_prefix_matching_score_rejects_bad_input():
    with pytest.raises(ValueError, match="^pattern"):
        prefix_matching_score(np.eye(10), 4)
    with pytest.raises(ValueError, match="^length"):
        prefix_matching_score(np.eye(10), 0)


def test_prefix_matching_scores_give_one_score_per_head(tiny_gpt):
    scores = prefix_matching_scores(tiny_gpt, length=16, seed=0)
    assert scores.shape == (TINY.n_layer, TINY.n_head)
    assert np.all((scores >= 0) & (scores <= 1))
    with pytest.raises(ValueError, match="^length"):
        prefix_matching_scores(tiny_gpt, length=TINY.n_ctx // 2 + 1)
    with pytest.raises(ValueError, match="^model"):
        prefix_matching_scores(LSTM(LSTMConfig(n_layer=1, d_model=8)))


def test_induction_mass_is_one_for_an_induction_head_and_the_repeat_rate_for_a_uniform_head():
    length = 20
    tokens = np.concatenate([np.arange(length), np.arange(length)])
    size = 2 * length
    induction = np.eye(size)
    for i in range(length, size):
        induction[i] = 0
        induction[i, i - length + 1] = 1
    assert induction_mass(induction, tokens) == 1.0
    rng = np.random.default_rng(0)
    letters = rng.integers(0, 4, size=400)
    uniform = np.tril(np.ones((400, 400))) / np.arange(1, 401)[:, None]
    assert induction_mass(uniform, letters) == pytest.approx(0.25, abs=0.03)
    # Attention to the token after *every* earlier occurrence (a statistical induction head) scores 1.
    statistical = np.zeros((400, 400))
    for i in range(400):
        targets = [j for j in range(1, i + 1) if letters[j - 1] == letters[i]]
        statistical[i, targets or [i]] = 1 / max(1, len(targets))
    assert induction_mass(statistical, letters) == pytest.approx(1.0)


def test_induction_mass_rejects_bad_input(tiny_gpt):
    with pytest.raises(ValueError, match="^pattern"):
        induction_mass(np.eye(4), np.arange(5))
    with pytest.raises(ValueError, match="^tokens"):
        induction_mass(np.eye(4), np.arange(4))
    with pytest.raises(ValueError, match="^model"):
        induction_mass_scores(LSTM(LSTMConfig(n_layer=1, d_model=8)), np.array([1, 2, 1, 2]))
    scores = induction_mass_scores(tiny_gpt, np.array([5, 6, 7, 5, 6, 7, 5, 6]))
    assert scores.shape == (TINY.n_layer, TINY.n_head) and np.all((scores >= 0) & (scores <= 1 + 1e-9))


def test_previous_token_scores_and_the_induction_probe_describe_every_head(tiny_gpt):
    tokens = np.array([5, 6, 7, 5, 6, 7, 5, 6, 9, 5])
    previous = previous_token_scores(tiny_gpt, tokens)
    patterns = attention_patterns(tiny_gpt, torch.as_tensor(tokens)[None]).numpy()
    assert previous.shape == (TINY.n_layer, TINY.n_head)
    assert previous[1, 0] == pytest.approx(np.mean([patterns[1, 0, i, i - 1] for i in range(1, 10)]))
    record = induction_probe(tiny_gpt, tokens)
    mass = np.array(record["induction_mass"])
    assert record["tokens"] == tokens.tolist() and mass.shape == previous.shape
    assert mass[record["best_layer"], record["best_head"]] == mass.max()
    assert np.allclose(record["pattern"], patterns[record["best_layer"], record["best_head"]], atol=1e-4)
    with pytest.raises(ValueError, match="^tokens"):
        previous_token_scores(tiny_gpt, np.array([1]))


# ---------------------------------------------------------------------------
# Few-shot tasks


def test_few_shot_outcomes_score_a_model_with_a_known_answer_prompt_by_prompt(stub_model):
    stub = stub_model("c")
    right = ("cat", "crocodile", "cup")  # prompts of different lengths, all with answer "c"
    assert few_shot_outcomes(stub, "first_letter", 3, n_prompts=6, seed=0, with_description=True,
                             vocabulary=right) == [True] * 6
    assert not any(few_shot_outcomes(stub, "first_letter", 3, n_prompts=6, seed=0, with_description=False,
                                     vocabulary=("dog",)))
    assert all(few_shot_outcomes(stub, "copy", 2, n_prompts=4, seed=0, with_description=False, vocabulary=("c",)))
    assert not any(few_shot_outcomes(stub, "copy", 2, n_prompts=4, seed=0, with_description=False, vocabulary=("cc",)))
    # one prompt in two asks about a word starting with c: the outcomes say which
    mixed = few_shot_outcomes(stub, "first_letter", 0, n_prompts=40, seed=1, with_description=False,
                              vocabulary=("cat", "dog"))
    assert 0 < sum(mixed) < 40


def test_few_shot_outcomes_on_an_untrained_gpt_are_one_boolean_per_prompt(tiny_gpt):
    outcomes = few_shot_outcomes(tiny_gpt, "last_letter", 2, n_prompts=4, seed=0, with_description=False)
    assert len(outcomes) == 4 and all(isinstance(right, bool) for right in outcomes)


def test_few_shot_table_scores_every_task_and_k_with_and_without_the_description(stub_model):
    table = few_shot_table(stub_model("c"), ks=(0, 2), tasks=("copy", "first_letter"), n_prompts=3,
                           vocabulary=("cat", "cup"))
    assert table == {
        "ks": [0, 2], "n_prompts": 3, "seed": 0,
        "accuracy": {
            "copy": {"with_description": [0.0, 0.0], "without_description": [0.0, 0.0]},
            "first_letter": {"with_description": [1.0, 1.0], "without_description": [1.0, 1.0]},
        },
        "correct": {
            "copy": {"with_description": ["000", "000"], "without_description": ["000", "000"]},
            "first_letter": {"with_description": ["111", "111"], "without_description": ["111", "111"]},
        },
    }
    assert set(DESCRIPTION_KEYS.values()) == {"with_description", "without_description"}
    with pytest.raises(ValueError, match="ks and tasks"):
        few_shot_table(stub_model("c"), ks=())


def test_few_shot_rejects_bad_input(tiny_gpt):
    with pytest.raises(ValueError, match="^k"):
        few_shot_outcomes(tiny_gpt, "last_letter", 20, n_prompts=2, seed=0, with_description=False)
    with pytest.raises(ValueError, match="^task"):
        few_shot_outcomes(tiny_gpt, "anagram", 1, n_prompts=2, seed=0, with_description=False)
    with pytest.raises(ValueError, match="^n_prompts"):
        few_shot_outcomes(tiny_gpt, "last_letter", 1, n_prompts=0, seed=0, with_description=False)


def test_the_context_windows_probe_measures_every_window_in_every_bin():
    result = train(dataclasses.replace(TINY_RUN, probes=("context_windows",)))
    data = result.probes["context_windows"]
    windows = ContextWindows.from_probe(data)
    n_windows = data["n_windows"]
    assert data["placement"] == "inside_document" and 0 < n_windows <= 512
    assert windows.window_bin_loss_nats.shape == (n_windows, len(windows.bin_firsts))
    assert windows.bin_firsts[0] == 1 and windows.bin_lasts[-1] == 16
    assert np.all(windows.bin_firsts[1:] == windows.bin_lasts[:-1] + 1)  # the bins tile the context
    assert np.allclose(windows.window_loss_nats.mean(), np.mean(data["loss_per_position_nats"]), atol=1e-4)
    assert len(set(data["window_document"])) <= data["n_documents"]
