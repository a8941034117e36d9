"""Training throughput and MFU of ``scalinglab.train`` against a plain PyTorch loop.

For a few model sizes (context 256, byte tokens) this measures, in one run:

* the device's peak matmul FLOP/s in fp32 (and in bf16 where it is native), timed
  here on large matrix products, best of several, never typed in;
* tokens/s of :func:`scalinglab.train.train`;
* tokens/s of a plain reference loop: the same GPT trained the straightforward
  nanoGPT way (``torch.optim.AdamW`` with its defaults, fp32, no compilation, no
  tricks), timed the same way (every step after the first).

MFU is model FLOPs/s (Kaplan's ``6N + 6 n_layer n_ctx d_model`` per token, N
non-embedding) over the measured peak. Run it from the root of the repository, where
``make benchmark`` runs it (it imports the installed ``scalinglab`` and reads no file of
the repository, so any Python with the package installed can run it from anywhere)::

    .venv/bin/python benchmarks/throughput.py

The engine runs in fp32 and, where bf16 matmuls are native (a CUDA GPU of compute
capability 8.0+, a CPU with AMX or AVX512-BF16: :func:`scalinglab.device.bf16_is_native`),
also in bf16; each MFU is taken against the peak of its own precision, and the table marks
the precision that ``train``'s default, ``precision="auto"``, picks for each size. Each rate is the best of two interleaved rounds, and
each peak the best of a measurement before and after the runs, since other work on a
shared machine can only make either look worse. The last line is
``throughput_ratio=<engine/plain> mfu=<engine MFU>`` for the largest size (4 layers,
d_model=256), at the precision ``"auto"`` picks for it.
"""

from __future__ import annotations

import os
import time

import torch

from scalinglab.batches import get_batch, token_tensor
from scalinglab.corpora import CorpusConfig, make_corpus
from scalinglab.device import bf16_is_native, measure_matmul_flops_per_second, resolve_device, synchronize
from scalinglab.model import GPT, GPTConfig
from scalinglab.runs import TrainConfig
from scalinglab.train import resolve_precision, train

N_CTX = 256
BATCH_SIZE = 16
SIZES = ((2, 64), (2, 128), (4, 128), (4, 256))  # (2, 64): the width most ladder runs have
ROUNDS = 2
CORPUS = CorpusConfig(kind="zipf", n_tokens=2_000_000)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def gpt(n_layer: int, d_model: int) -> GPTConfig:
    """The benchmarked GPT shape: 4 heads, context N_CTX, no dropout."""
    return GPTConfig(n_layer=n_layer, n_head=4, d_model=d_model, n_ctx=N_CTX, dropout=0.0)


def peak_flops_per_second(device: str, dtype: torch.dtype) -> float:
    """Best matmul FLOP/s over a few square matrix sizes."""
    sizes = (512, 1024, 2048, 4096) if device == "cpu" else (4096, 8192)
    return max(measure_matmul_flops_per_second(device, dtype=dtype, size=s, repeats=5) for s in sizes)


def steps_for(d_model: int, device: str) -> int:
    """Timed steps per measurement: enough for a stable rate, few enough for ~5 minutes in all."""
    if device != "cpu":
        return 200
    return 24 if d_model <= 128 else 12


def plain_tokens_per_second(config: GPTConfig, steps: int, device: str) -> float:
    """tokens/s of the nanoGPT-style reference loop (every step after the first is timed)."""
    torch.manual_seed(0)
    model = GPT(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tokens = token_tensor(make_corpus(CORPUS).train_tokens)
    generator = torch.Generator().manual_seed(0)
    seconds = 0.0
    for step in range(steps + 1):
        start = time.perf_counter()
        x, y = get_batch(tokens, BATCH_SIZE, config.n_ctx, generator, device)
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        synchronize(device)
        if step > 0:
            seconds += time.perf_counter() - start
    return steps * BATCH_SIZE * config.n_ctx / seconds


def engine_tokens_per_second(config: GPTConfig, steps: int, precision: str) -> float:
    """tokens/s of :func:`train` over ``steps + 1`` steps (it does not time the first)."""
    run = TrainConfig(
        model=config,
        corpus=CORPUS,
        tokens=(steps + 1) * BATCH_SIZE * config.n_ctx,
        batch_size=BATCH_SIZE,
        n_evals=1,
        eval_tokens=config.n_ctx,
        precision=precision,
    )
    return train(run).tokens_per_second


def measure(config: GPTConfig, device: str, precisions: tuple[str, ...]) -> dict[str, float]:
    """Best tokens/s of the plain loop and of the engine at each precision, over interleaved rounds."""
    steps = steps_for(config.d_model, device)
    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        rates = {"plain": plain_tokens_per_second(config, steps, device)}
        rates |= {p: engine_tokens_per_second(config, steps, p) for p in precisions}
        best = {k: max(v, best.get(k, 0.0)) for k, v in rates.items()}
    return best


def print_table(
    results: dict[tuple[int, int], dict[str, float]], peaks: dict[str, float], precisions: tuple[str, ...], device: str
) -> None:
    """The peaks, then one row per size: the precision ``"auto"`` picks, tokens/s, engine/plain ratios and MFU."""
    for p in precisions:
        print(f"measured {p} matmul peak: {peaks[p] / 1e9:,.1f} GFLOP/s")
    columns = [f"{'n_layer':>7}", f"{'d_model':>7}", f"{'N':>10}", f"{'auto':>5}", f"{'plain tok/s':>12}"]
    for p in precisions:
        columns += [f"{'engine ' + p + ' tok/s':>18}", f"{'ratio':>6}", f"{'MFU':>6}"]
    header = " ".join(columns + [f"{'plain MFU':>9}"])
    print(header)
    print("-" * len(header))
    for (n_layer, d_model), rates in results.items():
        model = GPT(gpt(n_layer, d_model))
        flops_per_token, n_params = model.flops_per_token(), model.n_params(embedding=False)
        auto = resolve_precision("auto", device, gpt(n_layer, d_model))
        cells = [f"{n_layer:>7}", f"{d_model:>7}", f"{n_params:>10,}", f"{auto:>5}", f"{rates['plain']:>12,.0f}"]
        for p in precisions:
            mfu = rates[p] * flops_per_token / peaks[p]
            cells += [f"{rates[p]:>18,.0f}", f"{rates[p] / rates['plain']:>6.2f}", f"{mfu:>6.1%}"]
        print(" ".join(cells + [f"{rates['plain'] * flops_per_token / peaks['fp32']:>9.1%}"]))


def main() -> None:
    torch.set_num_threads(os.cpu_count() or 1)
    device = resolve_device("auto")
    precisions = ("fp32", "bf16") if bf16_is_native(device) else ("fp32",)
    make_corpus(CORPUS)  # build the corpus before anything is timed
    peaks_before = {p: peak_flops_per_second(device, DTYPES[p]) for p in precisions}
    results = {size: measure(gpt(*size), device, precisions) for size in SIZES}
    # Other work on the machine can only lower a measured peak: keep the best of before and after.
    peaks = {p: max(peaks_before[p], peak_flops_per_second(device, DTYPES[p])) for p in precisions}

    print(f"device: {device}, threads: {torch.get_num_threads()}, torch {torch.__version__}")
    print(f"batch: {BATCH_SIZE} sequences x n_ctx {N_CTX} tokens")
    print_table(results, peaks, precisions, device)
    print(
        "MFU = model FLOPs/s (6N + 6 n_layer n_ctx d_model per token) / measured matmul peak of the same precision; "
        "auto = the precision train's default (precision=\"auto\") picks for that size here."
    )
    largest = SIZES[-1]
    default = resolve_precision("auto", device, gpt(*largest))
    rates = results[largest]
    flops_per_token = GPT(gpt(*largest)).flops_per_token()
    ratio, mfu = rates[default] / rates["plain"], rates[default] * flops_per_token / peaks[default]
    print(f"throughput_ratio={ratio:.2f} mfu={mfu:.2f}")


if __name__ == "__main__":
    main()
