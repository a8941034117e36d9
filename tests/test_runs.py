"""Tests of scalinglab.runs: TrainConfig (validation, identity, JSON), RunResult and the store
record of a run, old records included (all without torch)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from scalinglab.corpora import CorpusConfig
from scalinglab.runs import (
    DEFAULT_EVALUATION_PROBES,
    GPTConfig,
    LSTMConfig,
    RunResult,
    TrainConfig,
    bits_per_byte,
    run_record,
)

EASY_ZIPF = CorpusConfig(kind="zipf", n_tokens=60_000, n_rules=8, continuation_length=5, noise=0.1, seed=0)
TINY = TrainConfig(
    model=GPTConfig(n_layer=1, n_head=2, d_model=32, n_ctx=32), corpus=EASY_ZIPF, tokens=8 * 32 * 6, batch_size=8,
    n_evals=2, eval_tokens=256,
)


# ---------------------------------------------------------------------------
# TrainConfig


def test_identity_holds_only_fields_that_differ_from_their_defaults():
    identity = TINY.identity()
    assert "device" not in identity and "warmup_fraction" not in identity and "n_states" not in identity["corpus"]
    assert identity["tokens"] == TINY.tokens and identity["model"]["arch"] == "gpt"
    assert TrainConfig(tokens=1000).identity() == {"tokens": 1000, "model": {"arch": "gpt"}, "corpus": {}}
    assert TrainConfig(tokens=1000, seed=0).config_hash() == TrainConfig(tokens=1000).config_hash()
    # The fields added with the probes leave the ids of runs recorded before them unchanged at their defaults.
    assert "evaluation_probes" not in identity and "probes" not in identity and "compile" not in identity
    assert "evaluation_probes" in TrainConfig(tokens=1000, evaluation_probes=()).identity()


def test_config_round_trips_and_hashes_stably():
    again = TrainConfig.from_dict(json.loads(json.dumps(TINY.to_dict())))
    assert again == TINY and again.config_hash() == TINY.config_hash()
    assert len(TINY.config_hash()) == 64
    assert dataclasses.replace(TINY, seed=1).config_hash() != TINY.config_hash()
    assert dataclasses.replace(TINY, device="auto").config_hash() == dataclasses.replace(TINY, device="cpu").config_hash()
    lstm = dataclasses.replace(TINY, model=LSTMConfig(d_model=16, n_ctx=32), tokens=None, flops=1e9)
    assert lstm.config_hash() != TINY.config_hash()
    assert TrainConfig.from_dict(json.loads(json.dumps(lstm.to_dict()))) == lstm
    pretrained = dataclasses.replace(TINY, pretrain_corpus=CorpusConfig(kind="stdlib"), pretrain_tokens=4096)
    assert TrainConfig.from_dict(json.loads(json.dumps(pretrained.to_dict()))) == pretrained
    assert pretrained.identity()["pretrain_corpus"] == {"kind": "stdlib"}


def test_probe_fields_default_to_the_evaluation_probes_and_no_end_probes():
    assert TINY.evaluation_probes == DEFAULT_EVALUATION_PROBES == ("icl_score", "prefix_matching", "induction_mass")
    assert TINY.probes == () and TINY.compile == "auto"
    config = dataclasses.replace(TINY, probes=["few_shot"], evaluation_probes=["icl_score"])
    assert config.probes == ("few_shot",) and config.evaluation_probes == ("icl_score",)  # lists become tuples
    assert config.to_dict()["probes"] == ["few_shot"] and hash(config) == hash(TrainConfig.from_dict(config.to_dict()))
    # Names are not checked here but by scalinglab.probes.check_probes (test_probes.py).
    assert dataclasses.replace(TINY, probes=["attention"]).probes == ("attention",)


def test_old_configs_load_with_their_ids():
    old = {**TINY.to_dict(), "compile": None}  # "auto" was None
    del old["evaluation_probes"], old["probes"]  # fields that did not exist yet
    old["corpus"] = {**old["corpus"], "n_states": 8, "paths": [], "concentration": 0.3}  # every kind's fields
    config = TrainConfig.from_dict(old)
    assert config == TINY and config.compile == "auto" and config.config_hash() == TINY.config_hash()
    with pytest.raises(ValueError, match="^'epochs' is not a field of TrainConfig; it has: batch_size"):
        TrainConfig.from_dict({**TINY.to_dict(), "epochs": 2})


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"tokens": None}, "budget"),
        ({"flops": 1e9}, "budget"),
        ({"tokens": 0}, "tokens"),
        ({"tokens": None, "flops": 0.0}, "flops"),
        ({"unique_tokens": 0}, "unique_tokens"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"warmup_fraction": 1.0}, "warmup_fraction"),
        ({"min_lr_fraction": 2.0}, "min_lr_fraction"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"grad_clip": -1.0}, "grad_clip"),
        ({"seed": -1}, "seed"),
        ({"n_evals": 0}, "n_evals"),
        ({"eval_spacing": "cubic"}, "eval_spacing"),
        ({"eval_tokens": 0}, "eval_tokens"),
        ({"device": "tpu"}, "device"),
        ({"compile": "yes"}, "compile"),
        ({"compile": None}, "compile"),
        ({"precision": "fp16"}, "precision"),
        ({"model": {"n_layer": 1}}, "model"),
        ({"corpus": "zipf"}, "corpus"),
        ({"probes": "few_shot"}, "probes"),
        ({"probes": [1]}, "probes"),
        ({"evaluation_probes": "icl_score"}, "evaluation_probes"),
        ({"pretrain_tokens": 1000}, "pretrain_corpus and pretrain_tokens"),
        ({"pretrain_corpus": {"kind": "stdlib"}, "pretrain_tokens": 1000}, "pretrain_corpus"),
    ],
)
def test_train_config_rejects_bad_fields(fields, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        dataclasses.replace(TINY, **fields)


# ---------------------------------------------------------------------------
# RunResult and the record of a run


def test_result_round_trips_through_json_with_and_without_its_config(fake_result):
    result = fake_result(TINY)
    assert RunResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    fields = json.loads(json.dumps(result.fields_dict()))
    assert "config" not in fields and RunResult.from_dict(fields, TINY) == result
    with pytest.raises(ValueError, match="config="):
        RunResult.from_dict(fields)


def test_best_val_loss_is_the_least_over_the_evaluations(fake_result):
    result = fake_result(TINY, val_loss_nats=[3.0, 2.5, 2.7], final_val_loss_nats=2.7)
    assert result.best_val_loss_nats == 2.5 and isinstance(result.best_val_loss_nats, float)
    assert bits_per_byte(math.log(2)) == pytest.approx(1.0)


def test_a_record_stores_the_config_once(fake_result):
    result = fake_result(TINY)
    provenance = {"device": "cpu", "date": "2024-01-02"}
    record = json.loads(json.dumps(run_record(result, provenance)))
    assert set(record) == {"run_id", "config", "result", "provenance"} and "config" not in record["result"]
    assert record["run_id"] == TINY.config_hash() and record["config"] == TINY.to_dict()
    assert record["provenance"] == provenance
    assert RunResult.from_record(record) == result


def test_records_made_before_the_probe_fields_existed_still_load(fake_result):
    result = fake_result(TINY)
    old = {k: v for k, v in result.to_dict().items() if k not in ("val_probes", "probes")}
    again = RunResult.from_dict(json.loads(json.dumps(old)))
    assert again.val_probes == {} and again.probes == {}


def test_old_per_evaluation_fields_and_skills_scores_are_mapped_to_the_probes(fake_result):
    result = fake_result(TINY, val_probes={})
    old = {k: v for k, v in result.fields_dict().items() if k not in ("val_probes", "probes")}
    addition = {"exact_match": 0.1, "digit_accuracy": 0.5, "answer_loss_nats": 1.0}
    facts = {"exact_match": 0.2, "answer_loss_nats": 2.0, "exact_match_by_rank": [1, 0]}
    old |= {
        "val_icl_score_nats": [-0.1, -0.2], "val_prefix_matching": [0.1, 0.4], "val_induction_mass": [],
        "probes": {"addition": addition, "facts": facts, "few_shot": {"ks": [0]}},
    }
    again = RunResult.from_record({"run_id": TINY.config_hash(), "config": TINY.to_dict(), "result": old,
                                   "provenance": {}})
    # An LSTM's empty series (no attention) is left out, as a new LSTM run leaves it out.
    assert again.val_probes == {"icl_score": [-0.1, -0.2], "prefix_matching": [0.1, 0.4]}
    assert again.probes == {"skills": {"addition": addition, "facts": facts}, "few_shot": {"ks": [0]}}
    assert RunResult.from_dict(json.loads(json.dumps(again.fields_dict())), TINY) == again
