"""The GPU check: what the course needs of a CUDA machine, asserted in one command.

Run it on a machine with an NVIDIA GPU (under 8 minutes on one)::

    make gpu-check                         # = .venv/bin/python benchmarks/gpu_check.py

and, anywhere, its dry run on the CPU, which runs the same steps at toy sizes and skips
what needs CUDA (CI runs it)::

    .venv/bin/python benchmarks/gpu_check.py --dry-run

Each check prints one line and is recorded, with what it measured, in a JSON file
(``results/gpu_check.json`` by default, ``--out`` to change it; the dry run writes to a
temporary file unless told otherwise). The process exits 1 if any check failed. Checks:

1. versions: torch, its CUDA build, the device, compute capability, native bf16;
2. a tiny run on the device: ``device == "cuda"``, the precision it recorded, whether it
   ran compiled, finite losses;
3. the per-position loss through a ``"cuda:0"`` device string against the run's own;
4. the LSTM's recurrent core in fp32 under bf16 autocast;
5. two identical runs agree (within 1e-3 nats on a GPU, exactly on the CPU);
6. six model shapes compiled in one process, each really compiled (GPU only);
7. the bf16 and fp32 matmul peaks, and a run's MFU against the peak of its precision, below 1;
8. a two-worker process-pool sweep whose records say the device and precision and whose
   ids differ from the CPU run's;
9. the CUDA-only unit tests (``tests/test_cuda.py``; GPU only);
10. the throughput benchmark in bf16 (GPU only).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from scalinglab.batches import evaluation_starts
from scalinglab.corpora import CorpusConfig, make_corpus
from scalinglab.device import bf16_is_native, measure_matmul_flops_per_second
from scalinglab.inference import loss_per_position
from scalinglab.model import LSTM, GPTConfig, LSTMConfig
from scalinglab.results import load_table
from scalinglab.runs import TrainConfig
from scalinglab.sweep import process_pool, run_sweep
from scalinglab.train import train, train_model

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class Check:
    """What one check found: whether it passed (None: skipped), a line, and its measurements."""

    name: str
    passed: bool | None
    line: str
    measured: dict[str, Any]


def tiny_run(device: str, dry_run: bool, **changes: Any) -> TrainConfig:
    """The check's small run: a 2-layer GPT on the Zipf-rules corpus."""
    config = TrainConfig(
        model=GPTConfig(n_layer=2, n_head=4, d_model=32 if dry_run else 128, n_ctx=64 if dry_run else 256),
        corpus=CorpusConfig(kind="zipf", n_tokens=200_000 if dry_run else 2_000_000),
        tokens=32_768 if dry_run else 2_000_000, batch_size=8 if dry_run else 32, lr=3e-3, n_evals=3,
        eval_tokens=4096, device=device,
    )
    return dataclasses.replace(config, **changes)


def check_versions(device: str, dry_run: bool) -> Check:
    measured: dict[str, Any] = {"torch": torch.__version__, "cuda_build": torch.version.cuda,
                                "cuda_available": torch.cuda.is_available()}
    if device == "cuda":
        measured |= {"device_name": torch.cuda.get_device_name(), "capability": list(torch.cuda.get_device_capability()),
                     "bf16_native": bf16_is_native("cuda")}
    passed = measured["cuda_available"] or dry_run
    return Check("versions", passed, ", ".join(f"{k} {v}" for k, v in measured.items()), measured)


def check_tiny_run(device: str, dry_run: bool) -> Check:
    result = train(tiny_run(device, dry_run))
    measured = {"device": result.device, "precision": result.precision, "compiled": result.compiled,
                "final_val_loss_nats": result.final_val_loss_nats, "tokens_per_second": result.tokens_per_second}
    expected_precision = "bf16" if device == "cuda" and bf16_is_native("cuda") else "fp32"
    passed = (result.device == device and result.precision == expected_precision
              and all(math.isfinite(x) for x in result.val_loss_nats + result.train_loss_nats))
    return Check("tiny run", passed, f"{result.device}, {result.precision}, compiled={result.compiled}, "
                 f"loss {result.final_val_loss_nats:.4f} nats, {result.tokens_per_second:,.0f} tokens/s", measured)


def check_indexed_device(device: str, dry_run: bool) -> Check:
    config = tiny_run(device, dry_run)
    result, model = train_model(config)
    corpus = make_corpus(config.corpus)
    starts = evaluation_starts(corpus, config.model.n_ctx, config.eval_tokens).numpy()
    model.to("cuda:0" if device == "cuda" else "cpu")
    again = loss_per_position(model, corpus.val_tokens, config.model.n_ctx, starts=starts)
    difference = float(abs(again - torch.tensor(result.val_loss_per_position_nats).numpy()).max())
    return Check("cuda:0 path", difference < 1e-4, f"largest per-position difference {difference:.2e} nats",
                 {"max_difference_nats": difference})


def check_lstm_dtype(device: str, dry_run: bool) -> Check:
    model = LSTM(LSTMConfig(n_layer=1, d_model=32, n_ctx=32)).to(device)
    seen: list[str] = []
    model.lstm.register_forward_hook(lambda module, args, output: seen.append(str(output[0].dtype)))
    with torch.autocast(device_type=device, dtype=torch.bfloat16):
        model(torch.zeros(2, 32, dtype=torch.long, device=device))
    return Check("lstm dtype", seen == ["torch.float32"], f"recurrent core output under bf16 autocast: {seen[0]}",
                 {"dtype": seen[0]})


def check_determinism(device: str, dry_run: bool) -> Check:
    first, second = (train(tiny_run(device, dry_run)) for _ in range(2))
    difference = abs(first.final_val_loss_nats - second.final_val_loss_nats)
    tolerance = 0.0 if device == "cpu" else 1e-3
    return Check("determinism", difference <= tolerance, f"two identical runs differ by {difference:.2e} nats "
                 f"(tolerance {tolerance:g})", {"difference_nats": difference, "tolerance_nats": tolerance})


def check_compile_shapes(device: str, dry_run: bool) -> Check:
    if device != "cuda":
        return Check("compile shapes", None, "skipped: compiling on a 2-core CPU takes minutes", {})
    compiled = []
    for d_model in (64, 96, 128, 160, 192, 256):
        result = train(tiny_run(device, dry_run, model=GPTConfig(n_layer=2, n_head=4, d_model=d_model, n_ctx=256),
                                tokens=200_000, compile=True))
        compiled.append(result.compiled)
    return Check("compile shapes", all(compiled), f"six shapes, compiled: {compiled}", {"compiled": compiled})


def check_peaks(device: str, dry_run: bool) -> Check:
    size = 512 if dry_run else (8192 if device == "cuda" else 2048)
    peaks = {name: measure_matmul_flops_per_second(device, dtype=dtype, size=size, repeats=3)
             for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    result = train(tiny_run(device, dry_run))
    peak = peaks[result.precision]
    mfu = result.flops_per_second / peak
    return Check("peaks and MFU", 0 < mfu < 1, f"fp32 {peaks['fp32'] / 1e12:.3g} TFLOP/s, bf16 "
                 f"{peaks['bf16'] / 1e12:.3g} TFLOP/s; MFU {mfu:.1%} against the {result.precision} peak",
                 {"peak_flops_per_second": peaks, "mfu": mfu, "precision": result.precision})


def check_process_pool(device: str, dry_run: bool) -> Check:
    configs = [tiny_run(device, dry_run, seed=seed) for seed in (0, 1)]
    cpu_ids = {dataclasses.replace(c, device="cpu").config_hash() for c in configs}
    with tempfile.TemporaryDirectory() as store, process_pool(2) as pool:
        summary = run_sweep(configs, store, executor=pool, progress=False)
        table = load_table(store)
        devices = sorted(set(table.column("result.device").tolist()))
        precisions = sorted(set(table.column("result.precision").tolist()))
        ids = set(table.column("run_id"))
    expected_precision = "bf16" if device == "cuda" and bf16_is_native("cuda") else "fp32"
    ids_differ = not (ids & cpu_ids) if expected_precision == "bf16" else ids == cpu_ids
    passed = not summary.failed and devices == [device] and precisions == [expected_precision] and ids_differ
    return Check("process pool", passed, f"{summary}; records say {devices} {precisions}; "
                 f"ids {'differ from' if ids - cpu_ids else 'equal'} the CPU run's", {
                     "devices": devices, "precisions": precisions, "failed": summary.failed})


def check_cuda_tests(device: str, dry_run: bool) -> Check:
    if device != "cuda":
        return Check("cuda unit tests", None, "skipped: no CUDA", {})
    completed = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "tests" / "test_cuda.py"), "-q"],
                               capture_output=True, text=True, cwd=ROOT)
    last = completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else completed.stderr[-200:]
    return Check("cuda unit tests", completed.returncode == 0, last, {"returncode": completed.returncode})


def check_throughput(device: str, dry_run: bool) -> Check:
    if device != "cuda":
        return Check("throughput benchmark", None, "skipped: the benchmark is for the GPU here", {})
    completed = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "throughput.py")],
                               capture_output=True, text=True, cwd=ROOT)
    lines = completed.stdout.strip().splitlines()
    return Check("throughput benchmark", completed.returncode == 0, lines[-1] if lines else completed.stderr[-200:],
                 {"output": lines})


CHECKS: tuple[Callable[[str, bool], Check], ...] = (
    check_versions, check_tiny_run, check_indexed_device, check_lstm_dtype, check_determinism,
    check_compile_shapes, check_peaks, check_process_pool, check_cuda_tests, check_throughput,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="on the CPU, at toy sizes, skipping what needs CUDA")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    args = parser.parse_args(argv)
    device = "cpu" if args.dry_run else "cuda"
    if not args.dry_run and not torch.cuda.is_available():
        print(f"no CUDA GPU usable by torch {torch.__version__} (CUDA build {torch.version.cuda}): "
              "run with --dry-run to check the steps on the CPU", file=sys.stderr)
        return 2
    out = args.out or (Path(tempfile.mkdtemp()) / "gpu_check.json" if args.dry_run else ROOT / "results" / "gpu_check.json")
    checks = []
    for check in CHECKS:
        start = time.perf_counter()
        try:
            found = check(device, args.dry_run)
        except Exception as error:  # noqa: BLE001 - a check that crashes has failed; the others still run
            found = Check(check.__name__.removeprefix("check_"), False, f"{type(error).__name__}: {error}",
                          {"traceback": traceback.format_exc()})
        found.measured["seconds"] = time.perf_counter() - start
        checks.append(found)
        verdict = {True: "ok  ", False: "FAIL", None: "skip"}[found.passed]
        print(f"{verdict} {found.name:22s} {found.line}", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dry_run": args.dry_run, "device": device, "checks": [dataclasses.asdict(c) for c in checks]},
                              indent=1, default=str))
    failed = [c.name for c in checks if c.passed is False]
    skipped = sum(c.passed is None for c in checks)
    print(f"GPU check{' (dry run)' if args.dry_run else ''}: {sum(c.passed is True for c in checks)} checks passed, "
          f"{len(failed)} failed{': ' + ', '.join(failed) if failed else ''}, {skipped} skipped; results in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
