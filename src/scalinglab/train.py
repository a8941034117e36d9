"""One training run: a :class:`TrainConfig` in, a :class:`RunResult` out.

::

    config = TrainConfig(model=GPTConfig(n_layer=2, d_model=64, n_ctx=64),
                         corpus=CorpusConfig(kind="zipf", n_tokens=300_000),
                         tokens=200_000)
    result = train(config)
    result.final_val_loss_nats, result.tokens_per_second

The budget is either ``tokens`` (training tokens) or ``flops`` (training FLOPs, turned
into tokens with the model's :meth:`~scalinglab.model.GPT.flops_per_token`, Kaplan's
``6N + 6 n_layer n_ctx d_model`` with N non-embedding). The learning rate warms up
linearly, then follows a cosine down to ``min_lr_fraction * lr``. Runs are seeded: the
same config on the same machine gives the same losses.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from . import __version__
from ._checks import non_negative_float, non_negative_int, one_of, positive_float, positive_int
from .data import SKILLS_HELD_OUT_FRACTION, Corpus, CorpusConfig, decode, encode, get_batch, make_corpus, windows
from .device import DEVICES, resolve_device, synchronize
from .model import GPT, LSTM, GPTConfig, LSTMConfig, ModelConfig, build_model, model_config_from_dict

PRECISIONS = ("auto", "fp32", "bf16")
PROBES = ("few_shot", "induction", "skills")


EVAL_SPACINGS = ("log", "linear")
TRAIN_CURVE_POINTS = 256
"""The training-loss curve of a :class:`RunResult` is averaged into at most this many points."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run. Frozen, hashable, JSON round-trip.

    Attributes:
        model: a :class:`GPTConfig` or :class:`LSTMConfig`.
        corpus: the :class:`CorpusConfig` to train on.
        tokens: training budget in tokens; give exactly one of ``tokens`` and ``flops``.
        flops: training budget in FLOPs (Kaplan convention, see the module docstring).
        unique_tokens: train on only the first ``unique_tokens`` training tokens
            (:meth:`~scalinglab.data.Corpus.unique_subset`), repeated for as many
            epochs as the budget needs; ``None`` uses the whole training split.
        batch_size: sequences per step (each ``n_ctx`` tokens).
        lr: peak learning rate of AdamW (betas 0.9, 0.95).
        warmup_fraction: fraction of the steps spent warming up linearly, in [0, 1).
        min_lr_fraction: the cosine ends at ``min_lr_fraction * lr``, in [0, 1].
        weight_decay: AdamW decoupled weight decay on matrices (not biases or norms).
        grad_clip: clip the gradient's global norm to this (0: no clipping).
        seed: seeds initialisation and batches.
        n_evals: validation evaluations (at most; fewer when steps are few), the last at the end.
        eval_spacing: ``"log"`` (default) spaces them evenly in log(steps), for learning
            curves on log axes; ``"linear"`` evenly in steps.
        eval_tokens: validation tokens per evaluation (rounded up to whole windows).
        device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"`` or ``"mps"``.
        compile: ``torch.compile`` the model; ``None`` means on CUDA only (on a
            2-core CPU compiling took ~20-45 s and then ran no faster than eager).
        precision: ``"auto"`` (bf16 autocast on CUDA, fp32 elsewhere), ``"fp32"``, or
            ``"bf16"`` (autocast: matmuls in bfloat16, about twice as fast on CPUs
            with native bf16 such as AVX512-BF16 or AMX, and slow on CPUs without).
        probes: measurements of the trained model recorded in ``RunResult.probes``,
            by name: ``"few_shot"`` is :func:`scalinglab.icl.few_shot_table` with its
            defaults (every task at k = 0, 1, 2, 4, 8, 16 on held-out words);
            ``"induction"`` (GPT only) is :func:`scalinglab.icl.induction_probe` on the
            first 64 tokens of the first validation window; ``"skills"`` (for a
            ``"skills"`` corpus) scores 500 held-out sums with
            :func:`scalinglab.skills.addition_scores` and every fact with
            :func:`scalinglab.skills.fact_scores`.
        pretrain_corpus, pretrain_tokens: pre-train first (give both or neither): the
            model is trained on ``pretrain_tokens`` tokens of ``pretrain_corpus`` with
            this config's other settings (:func:`pretraining_config`), then trained
            ("fine-tuned") on ``corpus`` from those weights with a fresh optimiser and
            schedule. The result's tokens, FLOPs and curves count the fine-tuning only.
            Pre-trained weights are cached on disk (:func:`pretrained_weights`), so a sweep
            of fine-tuning runs pre-trains each model once.
    """

    model: ModelConfig = field(default_factory=GPTConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    tokens: int | None = None
    flops: float | None = None
    unique_tokens: int | None = None
    batch_size: int = 16
    lr: float = 1e-3
    warmup_fraction: float = 0.05
    min_lr_fraction: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    n_evals: int = 8
    eval_spacing: str = "log"
    eval_tokens: int = 16_384
    device: str = "auto"
    compile: bool | None = None
    precision: str = "auto"
    probes: tuple[str, ...] = ()
    pretrain_corpus: CorpusConfig | None = None
    pretrain_tokens: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, (GPTConfig, LSTMConfig)):
            raise ValueError(f"model must be a GPTConfig or LSTMConfig, got {type(self.model).__name__}")
        if not isinstance(self.corpus, CorpusConfig):
            raise ValueError(f"corpus must be a CorpusConfig, got {type(self.corpus).__name__}")
        if (self.tokens is None) == (self.flops is None):
            raise ValueError("budget: give exactly one of tokens or flops")
        if self.tokens is not None:
            positive_int("tokens", self.tokens)
        if self.flops is not None:
            positive_float("flops", self.flops)
        if self.unique_tokens is not None:
            positive_int("unique_tokens", self.unique_tokens)
        positive_int("batch_size", self.batch_size)
        positive_float("lr", self.lr)
        if non_negative_float("warmup_fraction", self.warmup_fraction) >= 1:
            raise ValueError(f"warmup_fraction must be a number in [0, 1), got {self.warmup_fraction!r}")
        if non_negative_float("min_lr_fraction", self.min_lr_fraction) > 1:
            raise ValueError(f"min_lr_fraction must be a number in [0, 1], got {self.min_lr_fraction!r}")
        non_negative_float("weight_decay", self.weight_decay)
        non_negative_float("grad_clip", self.grad_clip)
        non_negative_int("seed", self.seed)
        positive_int("n_evals", self.n_evals)
        one_of("eval_spacing", self.eval_spacing, EVAL_SPACINGS)
        positive_int("eval_tokens", self.eval_tokens)
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(map(repr, DEVICES))}, got {self.device!r}")
        if self.compile not in (None, True, False):
            raise ValueError(f"compile must be True, False or None, got {self.compile!r}")
        one_of("precision", self.precision, PRECISIONS)
        if isinstance(self.probes, str) or not all(isinstance(p, str) for p in self.probes):
            raise ValueError(f"probes must be a list of probe names, got {self.probes!r}")
        object.__setattr__(self, "probes", tuple(self.probes))
        for probe in self.probes:
            one_of("probes", probe, PROBES)
        if "skills" in self.probes and self.corpus.kind != "skills":
            raise ValueError(f"probes: 'skills' needs a corpus of kind 'skills', got {self.corpus.kind!r}")
        if (self.pretrain_corpus is None) != (self.pretrain_tokens is None):
            raise ValueError("pretrain_corpus and pretrain_tokens: give both or neither")
        if self.pretrain_corpus is not None and not isinstance(self.pretrain_corpus, CorpusConfig):
            raise ValueError(f"pretrain_corpus must be a CorpusConfig, got {type(self.pretrain_corpus).__name__}")
        if self.pretrain_tokens is not None:
            positive_int("pretrain_tokens", self.pretrain_tokens)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (nested model and corpus dicts)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        pretrain = self.pretrain_corpus.to_dict() if self.pretrain_corpus is not None else None
        return {
            **data, "model": self.model.to_dict(), "corpus": self.corpus.to_dict(), "probes": list(self.probes),
            "pretrain_corpus": pretrain,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["model"] = model_config_from_dict(data["model"])
        data["corpus"] = CorpusConfig.from_dict(data["corpus"])
        if data.get("pretrain_corpus") is not None:
            data["pretrain_corpus"] = CorpusConfig.from_dict(data["pretrain_corpus"])
        return cls(**data)

    def config_hash(self) -> str:
        """sha256 (hex) of the canonical JSON of :meth:`identity`: the run's id."""
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def identity(self) -> dict[str, Any]:
        """What makes two runs the same run: every field that differs from its default.

        ``device`` is left out (it says where a run is made, not what it is: the record's
        provenance says where it ran), and so is every field still at its default, in
        this config and in its model and corpus (the model's ``arch`` is always kept).
        A field added to the package later, with a default, so leaves the ids of the
        runs recorded before it unchanged.
        """
        changed = {k: v for k, v in _changed_fields(self).items() if k not in ("device", "model", "corpus")}
        if self.pretrain_corpus is not None:
            changed["pretrain_corpus"] = _changed_fields(self.pretrain_corpus)
        return {
            **changed,
            "model": {"arch": self.model.arch, **_changed_fields(self.model)},
            "corpus": _changed_fields(self.corpus),
        }


def _changed_fields(config: Any) -> dict[str, Any]:
    """The plain-JSON form of a config dataclass's fields that differ from their defaults."""
    data = config.to_dict()
    changed = {}
    for f in dataclasses.fields(config):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            changed[f.name] = data[f.name]
            continue
        if getattr(config, f.name) != default:
            changed[f.name] = data[f.name]
    return changed


@dataclass(frozen=True)
class RunResult:
    """What a training run measured. Frozen; ``to_dict``/``from_dict`` round-trip through JSON.

    Losses are in nats/token (bits/byte = nats / ln 2, since a token is a byte).
    ``epochs`` is training tokens over the unique training tokens available.
    ``train_*`` lists hold the training loss averaged over blocks of steps (at most
    :data:`TRAIN_CURVE_POINTS` blocks, log-spaced, each point at its block's last step),
    ``val_*`` lists one entry per evaluation;
    ``*_tokens`` are training tokens seen so far and ``*_flops`` = tokens x
    ``flops_per_token``. ``tokens_per_second`` and ``flops_per_second`` time the
    training steps after the first (which pays for warm-up and any compilation);
    ``mfu = flops_per_second / peak_flops_per_second`` when a peak was given.
    At each evaluation, ``val_icl_score_nats`` holds Olsson et al.'s in-context learning
    score of the per-position loss (:func:`scalinglab.icl.icl_score`; ``None`` when
    n_ctx < 2) and, for a GPT, ``val_prefix_matching`` the largest prefix-matching score
    of any head (:func:`scalinglab.icl.prefix_matching_scores` on 2 x min(32, n_ctx/2)
    tokens drawn from the training data's 32 commonest bytes but the newline) and
    ``val_induction_mass`` the largest :func:`scalinglab.icl.induction_mass` of any head
    on the first validation window: together they show induction heads forming. ``probes`` holds what the
    config's probes measured at the end. Records made before these fields existed load
    with them empty.
    """

    config: TrainConfig
    config_hash: str
    steps: int
    tokens: int
    flops: float
    epochs: float
    train_tokens: list[int]
    train_loss_nats: list[float]
    train_flops: list[float]
    val_tokens: list[int]
    val_loss_nats: list[float]
    val_flops: list[float]
    final_val_loss_nats: float
    final_val_loss_bits_per_byte: float
    val_loss_per_position_nats: list[float]
    n_params: int
    n_params_with_embedding: int
    flops_per_token: int
    seconds: float
    tokens_per_second: float
    flops_per_second: float
    peak_flops_per_second: float | None
    mfu: float | None
    device: str
    precision: str
    compiled: bool
    torch_version: str
    scalinglab_version: str
    python_version: str
    created: str
    val_icl_score_nats: list[float | None] = field(default_factory=list)
    val_prefix_matching: list[float] = field(default_factory=list)
    val_induction_mass: list[float] = field(default_factory=list)
    probes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**data, "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "config": TrainConfig.from_dict(data["config"])})

    def __repr__(self) -> str:
        return (
            f"RunResult(n_params={self.n_params:,}, tokens={self.tokens:,}, flops={self.flops:.3g}, "
            f"final_val_loss_nats={self.final_val_loss_nats:.4f}, tokens_per_second={self.tokens_per_second:,.0f}, "
            f"device={self.device!r})"
        )


@dataclass(frozen=True)
class _Schedule:
    """Linear warm-up over ``warmup_steps``, then cosine from ``lr`` to ``min_lr``."""

    lr: float
    min_lr: float
    warmup_steps: int
    steps: int

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps - 1)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress))


def budget_tokens(config: TrainConfig, flops_per_token: int) -> int:
    """Training tokens of the budget: ``tokens``, or ``flops / flops_per_token`` rounded down."""
    return config.tokens if config.tokens is not None else int(config.flops // flops_per_token)


def train(
    config: TrainConfig,
    *,
    progress: bool = False,
    peak_flops_per_second: float | None = None,
    return_model: bool = False,
) -> RunResult | tuple[RunResult, GPT | LSTM]:
    """Train the model of ``config`` on its corpus and measure it.

    Args:
        config: the run.
        progress: show a tqdm progress bar.
        peak_flops_per_second: the device's peak FLOP/s for MFU, e.g. from
            :func:`scalinglab.device.measure_matmul_flops_per_second`; without it
            ``mfu`` is ``None``.
        return_model: also return the trained model (in eval mode), for sampling.

    Returns:
        a :class:`RunResult`, or ``(result, model)`` with ``return_model=True``.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    if peak_flops_per_second is not None:
        positive_float("peak_flops_per_second", peak_flops_per_second)
    device = resolve_device(config.device)
    start_seconds = time.perf_counter()
    corpus = make_corpus(config.corpus)
    n_ctx, batch_size = config.model.n_ctx, config.batch_size
    _check_corpus_size(corpus, n_ctx)

    torch.manual_seed(config.seed)
    model = build_model(config.model).to(device)
    if config.pretrain_corpus is not None:
        model.load_state_dict(pretrained_weights(config))
    flops_per_token = model.flops_per_token()
    tokens_per_step = batch_size * n_ctx
    steps = budget_tokens(config, flops_per_token) // tokens_per_step
    if steps < 1:
        raise ValueError(
            f"budget: {budget_tokens(config, flops_per_token)} tokens is less than one step "
            f"of batch_size * n_ctx = {tokens_per_step} tokens"
        )
    bf16 = resolve_precision(config.precision, device) == "bf16"
    generator = torch.Generator().manual_seed(config.seed)
    train_tokens = torch.from_numpy(_training_tokens(corpus, config.unique_tokens, n_ctx))
    forward, compiled = model, False
    if config.compile or (config.compile is None and device == "cuda"):
        forward, compiled = _compiled(model, get_batch(train_tokens, batch_size, n_ctx, generator, device), bf16)
    generator.manual_seed(config.seed)
    curves = _run_steps(forward, model, config, corpus, train_tokens, generator, steps, device, bf16, progress)

    tokens_per_second = curves.timed_steps * tokens_per_step / curves.timed_seconds
    flops_per_second = tokens_per_second * flops_per_token
    train_at = [step * tokens_per_step for step in curves.train_steps]
    result = RunResult(
        config=config,
        config_hash=config.config_hash(),
        steps=steps,
        tokens=steps * tokens_per_step,
        flops=float(steps * tokens_per_step * flops_per_token),
        epochs=steps * tokens_per_step / len(train_tokens),
        train_tokens=train_at,
        train_loss_nats=curves.train_loss_nats,
        train_flops=[float(t * flops_per_token) for t in train_at],
        val_tokens=curves.val_tokens,
        val_loss_nats=curves.val_loss_nats,
        val_flops=[float(t * flops_per_token) for t in curves.val_tokens],
        final_val_loss_nats=curves.val_loss_nats[-1],
        final_val_loss_bits_per_byte=curves.val_loss_nats[-1] / math.log(2),
        val_loss_per_position_nats=curves.val_loss_per_position_nats,
        val_icl_score_nats=curves.val_icl_score_nats,
        val_prefix_matching=curves.val_prefix_matching,
        val_induction_mass=curves.val_induction_mass,
        probes=_run_probes(model, config, corpus),
        n_params=model.n_params(embedding=False),
        n_params_with_embedding=model.n_params(embedding=True),
        flops_per_token=flops_per_token,
        seconds=time.perf_counter() - start_seconds,
        tokens_per_second=tokens_per_second,
        flops_per_second=flops_per_second,
        peak_flops_per_second=peak_flops_per_second,
        mfu=flops_per_second / peak_flops_per_second if peak_flops_per_second else None,
        device=device,
        precision="bf16" if bf16 else "fp32",
        compiled=compiled,
        torch_version=torch.__version__,
        scalinglab_version=__version__,
        python_version=platform.python_version(),
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    model.eval()
    return (result, model) if return_model else result


def pretraining_config(config: TrainConfig) -> TrainConfig:
    """The run that pre-trains ``config``'s model: its ``pretrain_tokens`` on its
    ``pretrain_corpus``, with the model, optimiser and seed of ``config`` (one evaluation
    at the default spacing, no probes: how the fine-tuning is evaluated does not change
    the pre-training)."""
    if config.pretrain_corpus is None or config.pretrain_tokens is None:
        raise ValueError("config: pretraining_config needs a config with pretrain_corpus and pretrain_tokens")
    return dataclasses.replace(
        config, corpus=config.pretrain_corpus, tokens=config.pretrain_tokens, flops=None, unique_tokens=None,
        n_evals=1, eval_spacing=EVAL_SPACINGS[0], probes=(), pretrain_corpus=None, pretrain_tokens=None,
    )


def pretrained_weights(config: TrainConfig) -> dict[str, torch.Tensor]:
    """The state dict of ``config``'s pre-trained model (on the CPU), trained once per machine.

    Weights are cached as ``<cache>/pretrained/<run id>.pt``, the run id being
    :meth:`TrainConfig.config_hash` of :func:`pretraining_config`, ``<cache>`` the
    directory in the environment variable ``SCALINGLAB_CACHE`` or ``~/.cache/scalinglab``.
    Training is deterministic, so a cached file holds what training would give again.
    """
    pretrain = pretraining_config(config)
    cache = Path(os.environ.get("SCALINGLAB_CACHE", Path.home() / ".cache" / "scalinglab")) / "pretrained"
    path = cache / f"{pretrain.config_hash()}.pt"
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    _, model = train(pretrain, return_model=True)
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(state, partial)
    os.replace(partial, path)
    return state


@dataclass
class _Curves:
    """What the training loop records."""

    train_steps: list[int]
    train_loss_nats: list[float]
    val_tokens: list[int]
    val_loss_nats: list[float]
    val_loss_per_position_nats: list[float]
    val_icl_score_nats: list[float | None]
    val_prefix_matching: list[float]
    val_induction_mass: list[float]
    timed_steps: int
    timed_seconds: float


def _run_steps(
    forward: torch.nn.Module,
    model: GPT | LSTM,
    config: TrainConfig,
    corpus: Corpus,
    train_tokens: torch.Tensor,
    generator: torch.Generator,
    steps: int,
    device: str,
    bf16: bool,
    progress: bool,
) -> _Curves:
    """The training loop: ``steps`` AdamW steps on random windows, evaluating ``n_evals`` times.

    Every step after the first is timed (with a device synchronisation), so that
    warm-up and compilation do not count against throughput.
    """
    n_ctx, batch_size = config.model.n_ctx, config.batch_size
    optimizer = _optimizer(model, config, device)
    schedule = _Schedule(config.lr, config.lr * config.min_lr_fraction, round(config.warmup_fraction * steps), steps)
    val_tokens = torch.from_numpy(corpus.val_tokens)
    eval_starts = evaluation_starts(corpus, n_ctx, config.eval_tokens)
    eval_steps = set(checkpoint_steps(steps, config.n_evals, config.eval_spacing).tolist())
    alphabet = _common_bytes(train_tokens)
    step_losses, curves = [], _Curves([], [], [], [], [], [], [], [], 0, 0.0)
    for step in tqdm(range(steps), disable=not progress, desc="train", unit="step"):
        step_start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = schedule(step)
        x, y = get_batch(train_tokens, batch_size, n_ctx, generator, device)
        step_losses.append(_train_step(forward, optimizer, x, y, config.grad_clip, device, bf16))
        if step > 0 or steps == 1:
            synchronize(device)
            curves.timed_seconds += time.perf_counter() - step_start
            curves.timed_steps += 1
        if step + 1 in eval_steps:
            per_position = evaluate(forward, val_tokens, eval_starts, n_ctx, batch_size, device, bf16=bf16)
            curves.val_tokens.append((step + 1) * batch_size * n_ctx)
            curves.val_loss_nats.append(float(per_position.mean()))
            curves.val_loss_per_position_nats = per_position.tolist()
            first_window = val_tokens[int(eval_starts[0]) : int(eval_starts[0]) + n_ctx]
            _record_induction(model, per_position, alphabet, first_window, curves)
            model.train()
    losses = torch.stack(step_losses).float().cpu().numpy()
    block_ends = checkpoint_steps(steps, TRAIN_CURVE_POINTS, "log")
    block_starts = np.concatenate([[0], block_ends[:-1]])
    curves.train_steps = block_ends.tolist()
    curves.train_loss_nats = [float(losses[a:b].mean()) for a, b in zip(block_starts, block_ends)]
    return curves


def _common_bytes(tokens: torch.Tensor, most: int = 32) -> bytes:
    """The ``most`` commonest tokens of ``tokens`` other than the newline, commonest first."""
    counts = torch.bincount(tokens.long(), minlength=256)
    counts[ord("\n")] = 0
    order = counts.argsort(descending=True)[:most]
    return bytes(order[counts[order] > 0].tolist())


def _record_induction(
    model: GPT | LSTM, per_position: np.ndarray, alphabet: bytes, window: torch.Tensor, curves: _Curves
) -> None:
    """Append the ICL score and, for a GPT, the best head's induction scores to ``curves``.

    The repeated random sequence of the prefix-matching score is drawn from ``alphabet``,
    the training data's commonest bytes, so that the test sees tokens whose embeddings
    were trained; the induction mass is measured on ``window``, a validation window.
    """
    from .icl import icl_score, induction_mass_scores, prefix_matching_scores  # icl builds on this module

    n_ctx = len(per_position)
    curves.val_icl_score_nats.append(icl_score(per_position) if n_ctx >= 2 else None)
    if isinstance(model, GPT) and n_ctx >= 4 and alphabet:
        length = min(32, n_ctx // 2)
        curves.val_prefix_matching.append(float(prefix_matching_scores(model, length=length, alphabet=alphabet).max()))
        if len(set(window.tolist())) < len(window):
            curves.val_induction_mass.append(float(induction_mass_scores(model, window).max()))


def _run_probes(model: GPT | LSTM, config: TrainConfig, corpus: Corpus) -> dict[str, Any]:
    """What each probe named in ``config.probes`` measures on the trained model (see :class:`TrainConfig`)."""
    from .icl import few_shot_table, induction_probe  # both build on this module's evaluate()
    from .skills import addition_scores, fact_scores, fact_table

    measured: dict[str, Any] = {}
    if "few_shot" in config.probes:
        measured["few_shot"] = few_shot_table(model)
    if "induction" in config.probes and isinstance(model, GPT):
        n_ctx = config.model.n_ctx
        start = int(evaluation_starts(corpus, n_ctx, config.eval_tokens)[0])
        measured["induction"] = induction_probe(model, corpus.val_tokens[start : start + min(64, n_ctx)])
    if "skills" in config.probes:
        spec = config.corpus
        measured["addition"] = addition_scores(
            model, n_problems=500, n_digits=spec.n_digits, seed=1, held_out_fraction=SKILLS_HELD_OUT_FRACTION,
            split_seed=spec.seed,
        )
        measured["facts"] = fact_scores(model, fact_table(spec.n_facts, seed=spec.seed))
    return measured


def checkpoint_steps(steps: int, n_points: int, spacing: str) -> np.ndarray:
    """Up to ``n_points`` distinct step counts in 1..steps, the last being ``steps``.

    ``spacing="log"`` spaces them evenly in log(step) (rounded up, duplicates removed),
    ``"linear"`` evenly in steps.
    """
    steps, n_points = positive_int("steps", steps), positive_int("n_points", n_points)
    one_of("spacing", spacing, EVAL_SPACINGS)
    if spacing == "log":
        points = np.ceil(np.geomspace(1, steps, n_points) - 1e-9)
    else:
        points = np.linspace(0, steps, n_points + 1)[1:].round()
    return np.unique(np.clip(points.astype(int), 1, steps))


def _check_corpus_size(corpus: Corpus, n_ctx: int) -> None:
    for split, tokens in (("training", corpus.train_tokens), ("validation", corpus.val_tokens)):
        if len(tokens) < n_ctx + 1:
            raise ValueError(
                f"corpus is too small: its {split} split has {len(tokens)} tokens, "
                f"fewer than one window of n_ctx + 1 = {n_ctx + 1}"
            )


def _training_tokens(corpus: Corpus, unique_tokens: int | None, n_ctx: int) -> np.ndarray:
    """The training split, or its first ``unique_tokens`` tokens (at least one window)."""
    if unique_tokens is None:
        return corpus.train_tokens
    if unique_tokens < n_ctx + 1:
        raise ValueError(f"unique_tokens must be at least n_ctx + 1 = {n_ctx + 1}, got {unique_tokens}")
    if unique_tokens > len(corpus.train_tokens):
        raise ValueError(
            f"unique_tokens must be at most the corpus's {len(corpus.train_tokens)} training tokens, "
            f"got {unique_tokens}"
        )
    return corpus.unique_subset(unique_tokens)


def _compiled(
    model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor], bf16: bool
) -> tuple[torch.nn.Module, bool]:
    """``(torch.compile(model), True)``, or ``(model, False)`` where compilation fails.

    Compiles by running one forward and backward pass on ``batch`` (gradients are
    then discarded), so a missing compiler shows up here and not mid-run.
    """
    compiled = torch.compile(model)
    try:
        with _autocast(batch[0].device.type, bf16):
            _, loss = compiled(*batch)
        loss.backward()
    except Exception:  # noqa: BLE001 - any compiler failure means: run eagerly
        model.zero_grad(set_to_none=True)
        return model, False
    model.zero_grad(set_to_none=True)
    return compiled, True


def _optimizer(model: torch.nn.Module, config: TrainConfig, device: str) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only; fused kernels on CPU and CUDA."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in parameters if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95), fused=device in ("cpu", "cuda"))


def _train_step(
    forward: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    grad_clip: float,
    device: str,
    bf16: bool,
) -> torch.Tensor:
    """One optimisation step; returns the (detached) mean training loss of the batch."""
    with _autocast(device, bf16):
        _, loss = forward(x, y)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(forward.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


def resolve_precision(precision: str, device: str) -> str:
    """``"fp32"`` or ``"bf16"``: ``"auto"`` is bf16 on CUDA and fp32 elsewhere."""
    one_of("precision", precision, PRECISIONS)
    if precision == "auto":
        return "bf16" if device == "cuda" else "fp32"
    return precision


def _autocast(device: str, bf16: bool) -> torch.autocast:
    """bf16 autocast on ``device`` when ``bf16``; a disabled context otherwise."""
    return torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16)


def evaluation_starts(corpus: Corpus, n_ctx: int, eval_tokens: int) -> torch.Tensor:
    """Fixed starts of ``ceil(eval_tokens / n_ctx)`` validation windows.

    Windows begin at document starts (evenly spaced among the documents that leave
    room for a whole window) when there are enough documents, so that position ``t``
    of the per-position loss is ``t`` tokens into a document; otherwise they are evenly
    spaced over the validation tokens.
    """
    n_windows = math.ceil(positive_int("eval_tokens", eval_tokens) / n_ctx)
    last = len(corpus.val_tokens) - n_ctx - 1
    document_starts = corpus.val_document_starts[corpus.val_document_starts <= last]
    if len(document_starts) >= n_windows:
        chosen = np.linspace(0, len(document_starts) - 1, n_windows).round().astype(np.int64)
        return torch.from_numpy(document_starts[chosen])
    return torch.from_numpy(np.linspace(0, last, n_windows).round().astype(np.int64))


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    tokens: torch.Tensor,
    starts: torch.Tensor,
    n_ctx: int,
    batch_size: int,
    device: str,
    *,
    bf16: bool = False,
) -> np.ndarray:
    """Mean loss in nats at each of the ``n_ctx`` positions over the windows at ``starts``."""
    model.eval()
    total = torch.zeros(n_ctx, dtype=torch.float64)
    for chunk in starts.split(batch_size):
        x, y = windows(tokens, chunk, n_ctx, device)
        with _autocast(device, bf16):
            _, loss = model(x, y, reduction="none")
        total += loss.double().sum(dim=0).cpu()
    return (total / len(starts)).numpy()


@torch.no_grad()
def sample(
    model: GPT | LSTM,
    prompt: bytes | str,
    n_tokens: int,
    *,
    temperature: float = 1.0,
    seed: int = 0,
) -> str:
    """``prompt`` followed by ``n_tokens`` sampled byte tokens, decoded as UTF-8 text.

    Each token is drawn from ``softmax(logits / temperature)`` given the last ``n_ctx``
    tokens; ``temperature=0`` takes the most likely token. Seeded by ``seed``. An empty
    prompt starts from a newline.
    """
    n_tokens = positive_int("n_tokens", n_tokens)
    temperature = non_negative_float("temperature", temperature)
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(non_negative_int("seed", seed))
    tokens = torch.from_numpy(encode(prompt or "\n")).long().to(device)[None]
    model.eval()
    for _ in range(n_tokens):
        logits, _ = model(tokens[:, -model.config.n_ctx :])
        last = logits[0, -1].float()
        if temperature == 0:
            token = last.argmax()[None]
        else:
            token = torch.multinomial(torch.softmax(last / temperature, dim=-1), 1, generator=generator)
        tokens = torch.cat([tokens, token[None]], dim=1)
    return decode(tokens[0])
