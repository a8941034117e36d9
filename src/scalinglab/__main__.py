"""The command line: ``python -m scalinglab sweep GRID.toml --out results/NAME``, ``extend-scans``, ``show``
and ``report``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import Executor

from . import report
from .extend_scans import append_blocks, scan_extensions
from .protocol import LR_MATCH
from .results import load_table
from .sweep import InProcessExecutor, load_grid, process_pool, reuse_store, run_sweep

DESCRIPTION = """\
scalinglab: run and inspect sweeps of training runs.

  python -m scalinglab sweep GRID.toml --out results/NAME [--executor local|process|dask://HOST:PORT]
                             [--workers N] [--device auto]
      Expand the grid file (see README, "Sweeps"), skip the runs that results/NAME
      already holds, and train the others, recording each as it finishes. Interrupt it
      at any time (Ctrl-C): restarting the same command re-does only unfinished runs.

  python -m scalinglab extend-scans GRID.toml --store results/NAME [--match COLUMNS]
                                    [--loss COLUMN] [--factor 2]
      For each learning-rate scan of the store whose best rate sits at the edge of the
      rates tried, append to the grid the same runs one rate further (a factor 2 by
      default); then rerun the sweep, and again until nothing is appended. --match: the
      comma-separated columns that identify one scan (default: model, batch size,
      corpus); --loss: the column runs are judged by (default
      result.final_val_loss_nats; result.best_val_loss_nats for early stopping).

  python -m scalinglab show results/NAME
      Print the runs of a results store as a table.

  python -m scalinglab report [--json] [--results DIR]
      Check the course's claims against the recorded stores (default DIR: the
      repository's results/): each claim's measured value, its 90% interval, the
      reference it is tested against and the verdict; --json writes a list of rows.
"""


def make_executor(spec: str, workers: int) -> tuple[Executor, int | None]:
    """The executor named by ``--executor``, and the torch threads each run should use."""
    if spec == "local":
        return InProcessExecutor(), None
    if spec == "process":
        return process_pool(workers), max(1, (os.cpu_count() or 1) // workers)
    if spec.startswith("dask://"):
        try:
            from distributed import Client
        except ImportError as error:
            raise ValueError("--executor dask://... needs the 'distributed' package: pip install 'scalinglab[cluster]'") from error
        return Client(spec.removeprefix("dask://")).get_executor(), None
    raise ValueError(f"--executor must be local, process or dask://HOST:PORT, got {spec!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scalinglab", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    sweep = commands.add_parser("sweep", help="run the runs of a grid file into a results store")
    sweep.add_argument("grid", help="TOML grid file")
    sweep.add_argument("--out", required=True, help="results store directory (made if absent)")
    sweep.add_argument("--executor", default="local", help="local (default), process, or dask://HOST:PORT")
    sweep.add_argument("--workers", type=int, default=1, help="processes for --executor process (default 1)")
    sweep.add_argument("--device", default=None, help="auto, cpu, cuda or mps (default: each config's own)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    extend = commands.add_parser("extend-scans", help="append the next rate past each edge of a store's scans to its grid")
    extend.add_argument("grid", help="the TOML grid file the store was recorded from")
    extend.add_argument("--store", required=True, help="the results store of the scans")
    extend.add_argument("--match", default=",".join(LR_MATCH), help="comma-separated columns of one scan")
    extend.add_argument("--loss", default="result.final_val_loss_nats", help="the column runs are judged by")
    extend.add_argument("--factor", type=float, default=2.0, help="the step past the edge (default 2)")
    show = commands.add_parser("show", help="print the runs of a results store")
    show.add_argument("store", help="results store directory")
    check = commands.add_parser("report", help="check the course's claims against the recorded stores")
    check.add_argument("--json", action="store_true", help="write the rows as a JSON list")
    check.add_argument("--results", default=None,
                       help="directory of results stores (default: the repository's results/)")
    args = parser.parse_args(argv)

    try:
        if args.command == "report":
            if args.results is not None and not os.path.isdir(args.results):
                raise ValueError(f"--results must be a directory of results stores, got {args.results!r}")
            found = report.rows(args.results)
            print(json.dumps(found, indent=2) if args.json else report.to_text(found))
            return 0
        if args.command == "extend-scans":
            match = [column.strip() for column in args.match.split(",") if column.strip()]
            plan = scan_extensions(args.grid, args.store, match=match, loss=args.loss, factor=args.factor)
            if not plan.extensions:
                print(f"{args.grid}: {plan.n_pending} planned runs not yet in {args.store}: record them, then extend "
                      "again" if plan.n_pending else f"{args.store}: every scan's best rate is interior")
                return 0
            print(append_blocks(args.grid, plan.extensions))
            print(f"appended {len(plan.extensions)} runs to {args.grid}; record them with the sweep command")
            return 0
        if args.command == "show":
            table = load_table(args.store)
            print(f"{args.store}: {len(table)} runs")
            print(table.to_text())
            return 0
        if args.workers < 1:
            raise ValueError(f"--workers must be a positive integer, got {args.workers}")
        configs = load_grid(args.grid)
        executor, threads = make_executor(args.executor, args.workers)
        print(f"{args.grid}: {len(configs)} runs -> {args.out}", file=sys.stderr)
        with executor:
            summary = run_sweep(configs, args.out, executor=executor, device=args.device,
                                threads_per_run=threads, progress=not args.quiet, reuse_from=reuse_store(args.grid))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are recorded; rerun the same command to resume", file=sys.stderr)
        return 130
    print(summary, file=sys.stderr)
    for run_id, error in summary.failed.items():
        print(f"run {run_id[:8]} failed: {error}", file=sys.stderr)
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
