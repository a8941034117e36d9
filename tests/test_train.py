"""Tests of scalinglab.train: learning to the entropy floor, determinism, results, validation."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from scalinglab.corpora import CorpusConfig, make_corpus
from scalinglab.icl import icl_score
from scalinglab.limits import unique_tokens_for_epochs
from scalinglab.batches import evaluation_starts
from scalinglab.inference import evaluate_per_position
from scalinglab.model import GPT, LSTM
from scalinglab.probes.induction import common_bytes, induction_mass_scores, prefix_matching_scores
from scalinglab.runs import TRAIN_CURVE_POINTS, GPTConfig, LSTMConfig, RunResult, TrainConfig
from scalinglab.tasks import TASKS
from scalinglab.train import (
    COMPILE_MIN_STEPS,
    budget_tokens,
    evaluation_steps,
    resolve_precision,
    settle_arithmetic,
    should_compile,
    train,
    train_model,
)

EASY_ZIPF = CorpusConfig(kind="zipf", n_tokens=60_000, n_rules=8, continuation_length=5, noise=0.1, seed=0)
TINY_MODEL = GPTConfig(n_layer=1, n_head=2, d_model=32, n_ctx=32)
TINY = TrainConfig(model=TINY_MODEL, corpus=EASY_ZIPF, tokens=8 * 32 * 6, batch_size=8, n_evals=2, eval_tokens=256, device="cpu")


@pytest.fixture(scope="module")
def learned():
    """A small GPT trained for a few seconds on an easy Zipf-rules corpus, and the model."""
    config = TrainConfig(
        model=GPTConfig(n_layer=2, n_head=2, d_model=48, n_ctx=48),
        corpus=EASY_ZIPF,
        tokens=200_000,
        batch_size=16,
        lr=1e-2,
        n_evals=4,
        eval_tokens=8192,
        device="cpu",
    )
    return train_model(config, peak_flops_per_second=1e10)


def test_loss_ends_above_and_close_to_the_entropy_floor(learned):
    result, _ = learned
    floor = make_corpus(EASY_ZIPF).entropy_rate_nats
    assert floor < result.final_val_loss_nats < floor + 0.25
    assert result.val_loss_nats[0] > result.final_val_loss_nats
    assert result.final_val_loss_bits_per_byte == pytest.approx(result.final_val_loss_nats / math.log(2))
    # Late positions know which rule they are in; the first ones do not.
    per_position = result.val_loss_per_position_nats
    assert len(per_position) == 48
    assert sum(per_position[-12:]) / 12 < sum(per_position[:3]) / 3


def test_result_records_the_run(learned):
    result, model = learned
    assert isinstance(model, GPT) and not model.training
    assert result.steps == 200_000 // (16 * 48) and result.tokens == result.steps * 16 * 48
    assert len(result.train_loss_nats) == len(result.train_tokens) == len(result.train_flops) <= TRAIN_CURVE_POINTS
    assert len(result.val_loss_nats) == len(result.val_tokens) == len(result.val_flops) == 4
    assert result.val_tokens[-1] == result.tokens and result.train_flops[-1] == result.flops
    assert result.flops == result.tokens * result.flops_per_token == result.tokens * model.flops_per_token()
    assert result.n_params == model.n_params(embedding=False) < result.n_params_with_embedding
    assert result.tokens_per_second > 0 and result.seconds > 0
    assert result.mfu == pytest.approx(result.flops_per_second / 1e10)
    assert result.device == "cpu" and result.torch_version == torch.__version__


def test_result_round_trips_through_json(learned):
    result, _ = learned
    again = RunResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    assert RunResult.from_dict(json.loads(json.dumps(result.fields_dict())), result.config) == result


def test_each_evaluation_records_the_icl_score_and_the_best_prefix_matching_head(learned):
    result, model = learned
    assert set(result.val_probes) == {"icl_score", "prefix_matching", "induction_mass"}
    assert all(len(series) == 4 for series in result.val_probes.values())
    per_position = np.array(result.val_loss_per_position_nats)
    assert result.val_probes["icl_score"][-1] == pytest.approx(icl_score(per_position))
    corpus = make_corpus(EASY_ZIPF)
    alphabet = common_bytes(corpus.train_tokens)
    assert len(alphabet) == 32 and b"\n" not in alphabet
    best_head = float(prefix_matching_scores(model, length=24, alphabet=alphabet).max())
    assert result.val_probes["prefix_matching"][-1] == pytest.approx(best_head)
    n_ctx = result.config.model.n_ctx  # the first evaluation window: at the first validation document
    window = corpus.val_tokens[corpus.val_document_starts[0] : corpus.val_document_starts[0] + n_ctx]
    assert result.val_probes["induction_mass"][-1] == pytest.approx(float(induction_mass_scores(model, window).max()))
    assert all(0 <= score <= 1 for score in result.val_probes["prefix_matching"] + result.val_probes["induction_mass"])
    assert result.probes == {}


def test_the_induction_probe_records_the_best_heads_pattern_and_skips_an_lstm():
    config = dataclasses.replace(TINY, probes=["induction"])
    record = train(config).probes["induction"]
    assert set(record) == {"tokens", "induction_mass", "previous_token", "best_layer", "best_head", "pattern"}
    assert len(record["tokens"]) == 32 and np.array(record["pattern"]).shape == (32, 32)
    assert np.array(record["induction_mass"]).shape == np.array(record["previous_token"]).shape == (1, 2)
    lstm = dataclasses.replace(config, model=LSTMConfig(n_layer=1, d_model=16, n_ctx=32))
    assert train(lstm).probes == {}


def test_the_skills_probe_scores_held_out_sums_and_every_fact():
    corpus = CorpusConfig(kind="skills", n_tokens=30_000, n_digits=2, n_facts=20, text_fraction=0.0)
    config = dataclasses.replace(TINY, model=GPTConfig(n_layer=1, n_head=2, d_model=16, n_ctx=48), corpus=corpus,
                                 probes=["skills"], tokens=48 * 8 * 4)
    probes = train(config).probes
    assert set(probes) == {"skills"} and set(probes["skills"]) == {"addition", "facts"}
    assert set(probes["skills"]["addition"]) == {"exact_match", "digit_accuracy", "answer_loss_nats"}
    assert len(probes["skills"]["facts"]["exact_match_by_rank"]) == 20


def test_the_few_shot_probe_records_a_table_in_the_result():
    config = dataclasses.replace(
        TINY, model=GPTConfig(n_layer=1, n_head=2, d_model=16, n_ctx=320), probes=["few_shot"], tokens=320 * 8
    )
    assert config.probes == ("few_shot",) and config.to_dict()["probes"] == ["few_shot"]
    table = train(config).probes["few_shot"]
    assert table["ks"] == [0, 1, 2, 4, 8, 16] and sorted(table["accuracy"]) == sorted(TASKS)
    for by_description in table["accuracy"].values():
        assert all(len(acc) == 6 and all(0 <= a <= 1 for a in acc) for acc in by_description.values())


def test_seeded_rerun_gives_identical_losses():
    first, second = train(TINY), train(TINY)
    assert first.train_loss_nats == second.train_loss_nats
    assert first.val_loss_nats == second.val_loss_nats
    assert first.val_loss_per_position_nats == second.val_loss_per_position_nats
    other = train(dataclasses.replace(TINY, seed=1))
    assert other.train_loss_nats != first.train_loss_nats


def test_flops_budget_becomes_tokens():
    flops_per_token = GPT(TINY_MODEL).flops_per_token()
    config = dataclasses.replace(TINY, tokens=None, flops=float(flops_per_token * 8 * 32 * 3))
    assert budget_tokens(config, flops_per_token) == 8 * 32 * 3 and budget_tokens(TINY, flops_per_token) == TINY.tokens
    result = train(config)
    assert result.steps == 3 and result.flops == 3 * 8 * 32 * flops_per_token


def test_unique_tokens_repeat_a_small_subset():
    result = train(dataclasses.replace(TINY, unique_tokens=512))
    assert result.epochs == pytest.approx(result.tokens / 512)
    with pytest.raises(ValueError, match="unique_tokens"):
        train(dataclasses.replace(TINY, unique_tokens=32))
    with pytest.raises(ValueError, match="unique_tokens"):
        train(dataclasses.replace(TINY, unique_tokens=10**7))


@pytest.mark.parametrize("epochs", [1, 2, 4])
def test_repeated_data_runs_see_exactly_d_over_k_unique_tokens_k_times(epochs, monkeypatch):
    import scalinglab.train as engine

    budget = TINY.tokens
    unique = unique_tokens_for_epochs(budget, epochs)
    seen: list[int] = []
    original = engine.get_batch
    monkeypatch.setattr(engine, "get_batch", lambda tokens, *args: seen.append(len(tokens)) or original(tokens, *args))
    result = train(dataclasses.replace(TINY, unique_tokens=int(unique)))
    assert set(seen) == {unique} and result.tokens == budget and result.epochs == pytest.approx(epochs)
    with pytest.raises(ValueError, match="^epochs"):
        unique_tokens_for_epochs(budget, 7)


def test_lstm_trains_through_the_same_interface_without_attention_probes():
    result = train(dataclasses.replace(TINY, model=LSTMConfig(n_layer=1, d_model=32, n_ctx=32)))
    assert result.flops_per_token == 6 * result.n_params
    # An LSTM has no attention heads: it gets an in-context learning score but no prefix-matching series.
    assert set(result.val_probes) == {"icl_score"} and len(result.val_probes["icl_score"]) == 2
    assert len(result.val_loss_per_position_nats) == 32


def test_bf16_precision_runs_on_request():
    result = train(dataclasses.replace(TINY, precision="bf16"))
    assert result.precision == "bf16" and math.isfinite(result.final_val_loss_nats)
    assert train(TINY).precision == "fp32"


AVX2_FLAGS = frozenset({"fma", "avx2"})
AMX_FLAGS = AVX2_FLAGS | {"avx512f", "amx_tile", "amx_bf16", "avx512_bf16"}


@pytest.mark.parametrize(
    ("device", "capability", "flags", "model", "expected"),
    [
        ("cpu", None, AVX2_FLAGS, GPTConfig(d_model=256), "fp32"),  # bf16 would be emulated
        ("cpu", None, AMX_FLAGS, GPTConfig(d_model=256), "bf16"),
        ("cpu", None, AMX_FLAGS, GPTConfig(d_model=128), "bf16"),
        ("cpu", None, AMX_FLAGS, GPTConfig(d_model=64), "fp32"),  # casts dominate small matmuls
        ("cpu", None, frozenset({"avx512_bf16"}), GPTConfig(d_model=256), "bf16"),
        ("cpu", None, AMX_FLAGS, LSTMConfig(d_model=256), "fp32"),
        ("mps", None, AMX_FLAGS, GPTConfig(d_model=256), "fp32"),
        ("cuda", (8, 0), AVX2_FLAGS, GPTConfig(d_model=32), "bf16"),
        ("cuda:1", (9, 0), AVX2_FLAGS, GPTConfig(d_model=32), "bf16"),
        ("cuda", (7, 0), AVX2_FLAGS, GPTConfig(), "fp32"),  # a V100 emulates bf16, slower than fp32
        ("cuda", (7, 5), AVX2_FLAGS, GPTConfig(), "fp32"),  # a T4 too
        ("cuda", (9, 0), AVX2_FLAGS, LSTMConfig(), "fp32"),  # the LSTM's recurrent core runs in fp32 anyway
    ],
)
def test_auto_precision_is_bf16_only_where_bf16_is_native(monkeypatch, device, capability, flags, model, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr("scalinglab.device.cpu_flags", lambda: flags)
    assert resolve_precision("auto", device, model) == expected
    assert resolve_precision("fp32", device, model) == "fp32" and resolve_precision("bf16", device, model) == "bf16"


def test_a_run_in_bf16_ends_within_0_02_nats_of_the_same_run_in_fp32():
    """bf16 autocast changes the arithmetic of every matmul, not what the model learns: the
    same run (model, data, seed, schedule) ends at a loss 0.02 nats/token from fp32's or closer."""
    config = dataclasses.replace(
        TINY, model=GPTConfig(n_layer=2, n_head=2, d_model=32, n_ctx=32), tokens=80_000, lr=1e-2, eval_tokens=8192
    )
    fp32, bf16 = (train(dataclasses.replace(config, precision=p)) for p in ("fp32", "bf16"))
    assert fp32.precision == "fp32" and bf16.precision == "bf16"
    assert fp32.final_val_loss_nats < 0.8 * fp32.val_loss_nats[0]  # it learned something
    assert abs(bf16.final_val_loss_nats - fp32.final_val_loss_nats) <= 0.02


def test_evaluation_is_in_fp32_whatever_the_training_precision():
    result, model = train_model(dataclasses.replace(TINY, precision="bf16", eval_tokens=512))
    corpus = make_corpus(TINY.corpus)
    starts = evaluation_starts(corpus, TINY_MODEL.n_ctx, 512)
    fp32 = evaluate_per_position(model, corpus.val_tokens, starts, TINY_MODEL.n_ctx, TINY.batch_size, "cpu")
    assert np.abs(fp32 - np.array(result.val_loss_per_position_nats)).max() < 1e-4
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, _ = model(torch.from_numpy(np.array(corpus.val_tokens[:32], dtype=np.int64))[None])
    assert logits.dtype == torch.bfloat16  # what the evaluation would have read under autocast


def test_the_lstm_core_runs_in_fp32_under_autocast():
    model = LSTM(LSTMConfig(n_layer=1, d_model=16, n_ctx=16))
    seen = []
    model.lstm.register_forward_hook(lambda module, args, output: seen.append(output[0].dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(torch.zeros(2, 16, dtype=torch.long))
    assert seen == [torch.float32]


def test_compile_runs_only_where_it_pays():
    assert should_compile("auto", "cuda", COMPILE_MIN_STEPS) and should_compile("auto", "cuda:0", 10**6)
    assert not should_compile("auto", "cuda", COMPILE_MIN_STEPS - 1)  # a fast-mode run: compiling costs more
    assert not should_compile("auto", "cpu", 10**6) and not should_compile("auto", "mps", 10**6)
    assert should_compile(True, "cpu", 1) and not should_compile(False, "cuda", 10**6)


def test_runs_in_threads_initialise_as_runs_one_after_another():
    from concurrent.futures import ThreadPoolExecutor

    configs = [dataclasses.replace(TINY, seed=seed) for seed in (3, 4, 5, 6)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda c: train(c).train_loss_nats, configs))
    assert threaded == [train(c).train_loss_nats for c in configs]


def test_compile_falls_back_to_eager_when_it_fails(monkeypatch):
    def broken_compile(model, **options):
        def fail(*args, **kwargs):
            raise RuntimeError("no compiler here")

        return fail

    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(RuntimeWarning, match="torch.compile failed, training eagerly: RuntimeError: no compiler here"):
        result = train(dataclasses.replace(TINY, compile=True))
    assert not result.compiled
    assert result.train_loss_nats == train(TINY).train_loss_nats


def test_train_rejects_budgets_and_corpora_too_small():
    with pytest.raises(ValueError, match="budget"):
        train(dataclasses.replace(TINY, tokens=8 * 32 - 1))
    tiny_corpus = CorpusConfig(kind="zipf", n_tokens=200, document_tokens=20, n_rules=4)
    with pytest.raises(ValueError, match="corpus"):
        train(dataclasses.replace(TINY, corpus=tiny_corpus, model=GPTConfig(n_layer=1, d_model=32, n_ctx=64)))
    with pytest.raises(ValueError, match="peak_flops_per_second"):
        train(TINY, peak_flops_per_second=0.0)
    with pytest.raises(ValueError, match="^config must be a TrainConfig"):
        train(TINY.to_dict())


def test_train_names_a_missing_file_of_its_corpus_before_it_starts(tmp_path, monkeypatch):
    import scalinglab.train as engine

    monkeypatch.setattr(engine, "build_model", lambda config: pytest.fail("a model was built"))
    corpus = CorpusConfig(kind="files", paths=[str(tmp_path / "missing.txt")])
    with pytest.raises(ValueError, match=r"^paths: '.*missing\.txt' is not a file$"):
        train(dataclasses.replace(TINY, corpus=corpus))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_says_so():
    with pytest.raises(ValueError, match="cuda"):
        train(dataclasses.replace(TINY, device="cuda"))


@pytest.mark.parametrize(
    ("spacing", "expected"), [("log", [1, 10, 100, 1000, 10_000]), ("linear", [2000, 4000, 6000, 8000, 10_000])]
)
def test_evaluation_steps_end_at_the_last_step_are_distinct_and_spaced_as_asked(spacing, expected):
    for steps, n_points in [(1, 5), (7, 16), (2000, 16), (2000, 256)]:
        points = evaluation_steps(steps, n_points, spacing)
        assert points[-1] == steps and points[0] >= 1
        assert len(points) <= n_points and np.all(np.diff(points) > 0)
    assert evaluation_steps(10_000, 5, spacing).tolist() == expected
    gaps = np.diff(evaluation_steps(1000, 10, spacing))
    if spacing == "linear":
        assert evaluation_steps(1000, 10, spacing)[0] == 100 and np.all(gaps == 100)  # evenly in steps
    else:
        assert np.all(np.diff(gaps) >= 0) and gaps[-1] > 10 * gaps[0]  # evenly in log(steps): ever wider
    with pytest.raises(ValueError, match="^spacing"):
        evaluation_steps(10, 2, "cubic")


def test_training_curve_is_averaged_into_blocks():
    result = train(dataclasses.replace(TINY, eval_spacing="linear", n_evals=2))
    assert len(result.train_loss_nats) == len(result.train_tokens) <= TRAIN_CURVE_POINTS
    assert result.train_tokens[-1] == result.tokens
    assert len(result.val_tokens) == 2 and result.val_tokens[-1] == result.tokens
    assert result.val_tokens == [3 * 8 * 32, 6 * 8 * 32]  # linear: after steps 3 and 6 of 6


def test_a_4_layer_d256_ctx256_model_trains_in_under_2_gb(tmp_path):
    """Peak resident memory of a child process that trains the chapter's largest CPU model for 3 steps."""
    import subprocess
    import sys

    script = (
        "import resource\n"
        "from scalinglab.corpora import CorpusConfig\n"
        "from scalinglab.runs import GPTConfig, TrainConfig\n"
        "from scalinglab.train import train\n"
        "train(TrainConfig(model=GPTConfig(n_layer=4, n_head=4, d_model=256, n_ctx=256),\n"
        "                  corpus=CorpusConfig(kind='zipf', n_tokens=200_000), tokens=3 * 16 * 256,\n"
        "                  batch_size=16, n_evals=1, eval_tokens=4096, device='cpu'))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    peak_kib = int(out.stdout.split()[-1])  # ru_maxrss is in KiB on Linux
    assert peak_kib * 1024 < 2 * 1024**3


def test_an_auto_precision_run_on_a_bf16_gpu_cannot_take_a_cpu_runs_id(monkeypatch):
    on_gpu = dataclasses.replace(TINY, device="cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    settled = settle_arithmetic(on_gpu)
    assert settled.precision == "bf16" and settled.config_hash() != TINY.config_hash()
    assert settled.config_hash() == dataclasses.replace(TINY, precision="bf16").config_hash()
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))
    assert settle_arithmetic(on_gpu) is on_gpu  # fp32 there too: the same arithmetic, the same run
    assert settle_arithmetic(TINY) is TINY
