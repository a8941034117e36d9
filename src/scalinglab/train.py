"""One training run: a :class:`~scalinglab.runs.TrainConfig` in, a :class:`~scalinglab.runs.RunResult` out.

::

    config = TrainConfig(model=GPTConfig(n_layer=2, d_model=64, n_ctx=64),
                         corpus=CorpusConfig(kind="zipf", n_tokens=300_000),
                         tokens=200_000)
    result = train(config)
    result.final_val_loss_nats, result.tokens_per_second

The engine knows no analysis: at each evaluation and at the end it runs the probes the
config names through :mod:`scalinglab.probes`' registry. The budget is ``tokens`` or
``flops`` (turned into tokens with the model's
:meth:`~scalinglab.model.GPT.flops_per_token`). The learning rate warms up linearly,
then follows a cosine down to ``min_lr_fraction * lr``. Runs are seeded: the same config
on the same machine gives the same losses.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import platform
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from . import __version__
from ._checks import one_of, positive_float, positive_int
from .batches import evaluation_starts, get_batch, token_tensor
from .corpora import Corpus, check_available, make_corpus
from .cache import cache_dir
from .device import autocast, bf16_is_native, device_type, resolve_device, synchronize
from .inference import evaluate_per_position
from .model import GPT, LSTM, build_model
from .probes import ProbeContext, check_probes, measure
from .runs import (
    DEFAULT_EVALUATION_PROBES,
    EVAL_SPACINGS,
    PRECISIONS,
    TRAIN_CURVE_POINTS,
    ModelConfig,
    RunResult,
    TrainConfig,
    bits_per_byte,
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


_GLOBAL_RNG = threading.Lock()
"""Held while a run seeds torch's global generator and initialises its model, so that runs
in threads of one process (a Dask worker's) cannot interleave their draws."""


def budget_tokens(config: TrainConfig, flops_per_token: int) -> int:
    """Training tokens of the budget: ``tokens``, or ``flops / flops_per_token`` rounded down."""
    return config.tokens if config.tokens is not None else int(config.flops // flops_per_token)


def train(config: TrainConfig, *, progress: bool = False, peak_flops_per_second: float | None = None) -> RunResult:
    """Train the model of ``config`` on its corpus and measure it.

    Args:
        config: the run.
        progress: show a tqdm progress bar.
        peak_flops_per_second: the device's peak FLOP/s for MFU, e.g. from
            :func:`scalinglab.device.measure_matmul_flops_per_second`; without it
            ``mfu`` is ``None``.

    Returns:
        the run's :class:`~scalinglab.runs.RunResult` (:func:`train_model` also returns the model).
    """
    return train_model(config, progress=progress, peak_flops_per_second=peak_flops_per_second)[0]


def train_model(
    config: TrainConfig, *, progress: bool = False, peak_flops_per_second: float | None = None
) -> tuple[RunResult, GPT | LSTM]:
    """:func:`train`, returning the trained model (in eval mode) beside the result, for sampling."""
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    if peak_flops_per_second is not None:
        positive_float("peak_flops_per_second", peak_flops_per_second)
    check_probes(config)
    check_available(config.corpus)
    config = settle_arithmetic(config)
    device = resolve_device(config.device)
    start_seconds = time.perf_counter()
    corpus = make_corpus(config.corpus)
    n_ctx, batch_size = config.model.n_ctx, config.batch_size
    _check_corpus_size(corpus, n_ctx)

    with _GLOBAL_RNG:  # the initialisation draws from torch's global generator: one run at a time
        torch.manual_seed(config.seed)
        model = build_model(config.model)
    model = model.to(device)
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
    bf16 = resolve_precision(config.precision, device, config.model) == "bf16"
    generator = torch.Generator().manual_seed(config.seed)
    train_array = _training_tokens(corpus, config.unique_tokens, n_ctx)
    train_tokens = token_tensor(train_array)
    forward, compiled = model, False
    if should_compile(config.compile, device, steps):
        forward, compiled = _compiled(model, get_batch(train_tokens, batch_size, n_ctx, generator, device), bf16)
    generator.manual_seed(config.seed)
    curves = _run_steps(forward, model, config, corpus, train_array, train_tokens, generator, steps, device, bf16, progress)

    model.eval()
    probes = measure(config.probes, _context(model, config, corpus, train_array, curves.val_loss_per_position_nats))
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
        final_val_loss_bits_per_byte=bits_per_byte(curves.val_loss_nats[-1]),
        val_loss_per_position_nats=curves.val_loss_per_position_nats,
        val_probes=curves.val_probes,
        probes=probes,
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
    return result, model


def pretraining_config(config: TrainConfig) -> TrainConfig:
    """The run that pre-trains ``config``'s model: its ``pretrain_tokens`` on its
    ``pretrain_corpus`` at its ``pretrain_lr`` (``lr`` when None), with the model,
    optimiser settings and seed of ``config`` (one evaluation at the default spacing, no
    probes: how the fine-tuning is evaluated does not change the pre-training)."""
    if config.pretrain_corpus is None or config.pretrain_tokens is None:
        raise ValueError("config: pretraining_config needs a config with pretrain_corpus and pretrain_tokens")
    return dataclasses.replace(
        config, corpus=config.pretrain_corpus, tokens=config.pretrain_tokens, flops=None, unique_tokens=None,
        lr=config.lr if config.pretrain_lr is None else config.pretrain_lr,
        n_evals=1, eval_spacing=EVAL_SPACINGS[0], evaluation_probes=DEFAULT_EVALUATION_PROBES, probes=(),
        pretrain_corpus=None, pretrain_tokens=None, pretrain_lr=None,
    )


def pretrained_weights(config: TrainConfig) -> dict[str, torch.Tensor]:
    """The state dict of ``config``'s pre-trained model (on the CPU), trained once per machine.

    Weights are cached as ``<cache>/pretrained/<run id>.pt``, the run id being
    :meth:`TrainConfig.config_hash` of :func:`pretraining_config`, ``<cache>`` the
    directory :func:`scalinglab.cache.cache_dir` (``$SCALINGLAB_CACHE``, else
    ``$XDG_CACHE_HOME/scalinglab``, else ``~/.cache/scalinglab``).
    Training is deterministic, so a cached file holds what training would give again.
    """
    pretrain = pretraining_config(config)
    cache = cache_dir() / "pretrained"
    path = cache / f"{pretrain.config_hash()}.pt"
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    _, model = train_model(pretrain)
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(state, partial)
    os.replace(partial, path)
    return state


@dataclass
class _Curves:
    """What the training loop records."""

    train_steps: list[int] = field(default_factory=list)
    train_loss_nats: list[float] = field(default_factory=list)
    val_tokens: list[int] = field(default_factory=list)
    val_loss_nats: list[float] = field(default_factory=list)
    val_loss_per_position_nats: list[float] = field(default_factory=list)
    val_probes: dict[str, list[Any]] = field(default_factory=dict)
    timed_steps: int = 0
    timed_seconds: float = 0.0


def _context(
    model: GPT | LSTM, config: TrainConfig, corpus: Corpus, train_tokens: np.ndarray, loss_per_position: list[float]
) -> ProbeContext:
    """What the probes see: the first validation window is the first evaluation window."""
    n_ctx = config.model.n_ctx
    start = int(evaluation_starts(corpus, n_ctx, config.eval_tokens)[0])
    window = np.asarray(corpus.val_tokens[start : start + n_ctx])
    return ProbeContext(model, config, corpus, train_tokens, window, np.asarray(loss_per_position))


def _run_steps(
    forward: torch.nn.Module,
    model: GPT | LSTM,
    config: TrainConfig,
    corpus: Corpus,
    train_array: np.ndarray,
    train_tokens: torch.Tensor,
    generator: torch.Generator,
    steps: int,
    device: str,
    bf16: bool,
    progress: bool,
) -> _Curves:
    """The training loop: ``steps`` AdamW steps on random windows, evaluating ``n_evals`` times.

    Every step after the first is timed (with a device synchronisation), so that
    warm-up and compilation do not count against throughput. At each evaluation the
    config's evaluation probes measure the model.
    """
    n_ctx, batch_size = config.model.n_ctx, config.batch_size
    optimizer = _optimizer(model, config, device)
    schedule = _Schedule(config.lr, config.lr * config.min_lr_fraction, round(config.warmup_fraction * steps), steps)
    val_tokens = token_tensor(corpus.val_tokens)
    eval_starts = evaluation_starts(corpus, n_ctx, config.eval_tokens)
    eval_steps = set(evaluation_steps(steps, config.n_evals, config.eval_spacing).tolist())
    # One preallocated buffer, written in place: keeping each step's 0-d loss tensor alive
    # instead fragments the heap so that freed activations are never returned (about 1 MB
    # of resident memory a step at d_model 16, 18 GB after 12k steps).
    step_losses, curves = torch.empty(steps, device=device), _Curves()
    for step in tqdm(range(steps), disable=not progress, desc="train", unit="step"):
        step_start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = schedule(step)
        x, y = get_batch(train_tokens, batch_size, n_ctx, generator, device)
        step_losses[step] = _train_step(forward, optimizer, x, y, config.grad_clip, device, bf16)
        if step > 0 or steps == 1:
            synchronize(device)
            curves.timed_seconds += time.perf_counter() - step_start
            curves.timed_steps += 1
        if step + 1 in eval_steps:
            per_position = evaluate_per_position(model, val_tokens, eval_starts, n_ctx, batch_size, device)
            curves.val_tokens.append((step + 1) * batch_size * n_ctx)
            curves.val_loss_nats.append(float(per_position.mean()))
            curves.val_loss_per_position_nats = per_position.tolist()
            measured = measure(config.evaluation_probes, _context(model, config, corpus, train_array, per_position))
            for name, value in measured.items():
                curves.val_probes.setdefault(name, []).append(value)
            model.train()
    losses = step_losses.float().cpu().numpy()
    block_ends = evaluation_steps(steps, TRAIN_CURVE_POINTS, "log")
    block_starts = np.concatenate([[0], block_ends[:-1]])
    curves.train_steps = block_ends.tolist()
    curves.train_loss_nats = [float(losses[a:b].mean()) for a, b in zip(block_starts, block_ends)]
    return curves


def evaluation_steps(steps: int, n_points: int, spacing: str) -> np.ndarray:
    """Up to ``n_points`` distinct step counts in 1..steps, the last being ``steps``: where a
    run evaluates (and, with ``TRAIN_CURVE_POINTS``, where its training-loss blocks end).

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


COMPILE_MIN_STEPS = 2000
"""``compile="auto"`` compiles on CUDA only for runs of at least this many steps: compiling
takes 10-40 s, which a short run (a fast-mode chapter's) never earns back."""


def should_compile(compile_setting: bool | str, device: str, steps: int) -> bool:
    """Whether a run compiles: ``True``/``False`` as given; ``"auto"`` on CUDA for runs of at
    least :data:`COMPILE_MIN_STEPS` steps."""
    if compile_setting == "auto":
        return device_type(device) == "cuda" and steps >= COMPILE_MIN_STEPS
    return bool(compile_setting)


def _compiled(
    model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor], bf16: bool
) -> tuple[torch.nn.Module, bool]:
    """``(torch.compile(model), True)``, or ``(model, False)`` with a warning saying why, where
    compilation fails.

    Dynamo's caches are reset first (many runs share a process: the chapters, the
    benchmark, ``--executor local``; after a few shapes it would otherwise recompile with
    dynamic shapes or fall back to eager), and shapes are static (``dynamic=False``). The
    compiled module then sees one shape in the whole run (every training step has the
    same batch; evaluations and probes run the eager model), so it cannot fall back to
    eager after the warm-up that ``compiled=True`` records. Compiles by running one forward and backward pass on
    ``batch`` (gradients are then discarded), so a missing compiler shows up here and not
    mid-run.
    """
    torch._dynamo.reset()
    compiled = torch.compile(model, dynamic=False)
    try:
        with autocast(batch[0].device, bf16):
            _, loss = compiled(*batch)
        loss.backward()
    except Exception as error:  # noqa: BLE001 - any compiler failure means: run eagerly, and say why
        model.zero_grad(set_to_none=True)
        warnings.warn(f"torch.compile failed, training eagerly: {type(error).__name__}: {error}", RuntimeWarning, stacklevel=3)
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
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95), fused=device_type(device) in ("cpu", "cuda"))


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
    with autocast(device, bf16):
        _, loss = forward(x, y)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(forward.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


def settle_arithmetic(config: TrainConfig) -> TrainConfig:
    """``config`` with ``precision="auto"`` replaced by ``"bf16"`` where it resolves to bf16
    on this machine (a GPT where bf16 is native: see :func:`resolve_precision`), so that such a run's id differs from
    the same config's fp32 run elsewhere; unchanged otherwise (an ``"auto"`` that resolves to
    fp32 keeps the ids of the runs recorded before this rule)."""
    if config.precision != "auto":
        return config
    if resolve_precision("auto", resolve_device(config.device), config.model) == "fp32":
        return config
    return dataclasses.replace(config, precision="bf16")


CPU_BF16_MIN_D_MODEL = 128
"""On a CPU with native bf16, ``precision="auto"`` trains a GPT in bf16 from this width up:
bf16 halves the bytes each matmul moves and AMX multiplies it ~4x faster, but each op also
pays for casting its inputs, which weighs most on the tiny matmuls of narrower models. The
threshold is a first setting, not yet measured: the one bf16 speed-up recorded for this
course is 2.4x the plain fp32 loop at d_model 256 on an AMX CPU; ``benchmarks/throughput.py``
measures both precisions at d_model 64, 128 and 256 wherever bf16 is native, which is how
the threshold should be set."""


def resolve_precision(precision: str, device: str, model: ModelConfig) -> str:
    """``"fp32"`` or ``"bf16"`` for ``model`` on ``device``. ``"auto"`` is bf16 for a GPT where
    bf16 matmuls are native (:func:`scalinglab.device.bf16_is_native`): on a CUDA GPU of
    compute capability 8.0 or more, and on a CPU with AMX or AVX512-BF16 for widths of
    :data:`CPU_BF16_MIN_D_MODEL` and more; fp32 elsewhere: on other CPUs and MPS, on older
    GPUs (which emulate bf16, slower than fp32), and for an LSTM (whose recurrent core
    runs in fp32 whatever the precision)."""
    one_of("precision", precision, PRECISIONS)
    if precision != "auto":
        return precision
    if model.arch == "lstm" or not bf16_is_native(device):
        return "fp32"
    if device_type(device) == "cpu" and model.d_model < CPU_BF16_MIN_D_MODEL:
        return "fp32"
    return "bf16"
