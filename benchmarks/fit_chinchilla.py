"""Speed of :func:`scalinglab.fit.fit_chinchilla` with a large bootstrap.

Draws 250 runs from Hoffmann et al.'s fitted law, L = 1.69 + 406.4 / N^0.34 + 410.7 / D^0.28,
with N log-uniform in 1e7..1e10 parameters, D log-uniform in 1e9..1e12 tokens and 1%
multiplicative noise (seed 0), then fits the law with 4,000 bootstrap resamples (the
paper's method: summed Huber loss, delta = 1e-3, L-BFGS from the best grid starts; the
resamples in one batched L-BFGS). Prints the wall time, each parameter with its 90%
percentile interval against the truth, and last a line
``fit_chinchilla_seconds=<s> n_points=250 n_bootstrap=4000``. Run it from the root of the
repository (it imports the installed ``scalinglab`` and reads no file of the repository,
so any Python with the package installed can run it from anywhere)::

    .venv/bin/python benchmarks/fit_chinchilla.py

Not a test: nothing is asserted about the time, which other work on the machine inflates.
"""

from __future__ import annotations

import os
import time

import numpy as np

from scalinglab.fit import fit_chinchilla

N_POINTS = 250
N_BOOTSTRAP = 4000
TRUTH = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def synthetic_runs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N (parameters), D (tokens) and loss (nats/token) of ``N_POINTS`` noisy runs."""
    rng = np.random.default_rng(seed)
    N = 10 ** rng.uniform(7, 10, N_POINTS)
    D = 10 ** rng.uniform(9, 12, N_POINTS)
    loss = TRUTH["E"] + TRUTH["A"] / N ** TRUTH["alpha"] + TRUTH["B"] / D ** TRUTH["beta"]
    return N, D, loss * np.exp(rng.normal(0, 0.01, N_POINTS))


def main() -> None:
    N, D, loss = synthetic_runs()
    start = time.perf_counter()
    fit = fit_chinchilla(N, D, loss, n_bootstrap=N_BOOTSTRAP, level=0.9)
    seconds = time.perf_counter() - start
    truth = {**TRUTH, "a": TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"])}
    truth["b"] = 1 - truth["a"]
    print(fit)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {seconds:.1f} s")
    print(f"{'':6}{'fit':>10}{'90% interval':>24}{'truth':>10}")
    for name, (low, high) in fit.intervals.items():
        print(f"{name:6}{getattr(fit, name):10.4g}   [{low:9.4g}, {high:9.4g}]{truth[name]:10.4g}")
    print(f"fit_chinchilla_seconds={seconds:.2f} n_points={N_POINTS} n_bootstrap={N_BOOTSTRAP}")


if __name__ == "__main__":
    main()
