"""KernelSynth: random series drawn from Gaussian processes with random composite kernels.

After Chronos (Ansari et al. 2024, "Chronos: Learning the Language of Time Series", §4.2 and
Algorithm 2): draw j ~ U{1, ..., MAX_KERNELS} kernels with replacement from a bank of periodic,
linear, RBF, rational-quadratic, white-noise and constant kernels, join them one by one with a
random + or ×, and draw one path of the zero-mean GP with that covariance on the grid
x = t / length, t = 0 .. length - 1. Periods are written in steps (hours of a day or week, days of
a week, month or year, ...) and divided by ``length``, as Chronos does (on this grid a periodic
kernel repeats after exactly that many steps; Chronos's ``linspace(0, 1, length)`` stretches it
by length / (length - 1)). Sampling is exact: a Cholesky factor of the covariance, with a little
jitter added until it exists. The factor is computed by torch on one thread: a multi-threaded BLAS
sums in an order that depends on the thread count, and the corpus must not depend on it.

Every series has its own random stream (``SeedSequence(seed).spawn``), so series i is the same
whatever the number of series drawn.

Example::

    >>> values, kernels = kernelsynth(3, length=256, seed=0)
    >>> values.shape, len(kernels)
    ((3, 256), 3)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch

MAX_KERNELS = 5  # kernels joined per series (Chronos: 5)
PERIODS = (4, 6, 7, 12, 14, 24, 26, 30, 48, 52, 60, 96, 104, 168, 208, 336, 365, 672, 730)  # steps
MAX_JITTER = 1e-2  # relative to the mean variance; beyond it the kernel is redrawn


def _periodic(period: int):
    return lambda r, T: np.exp(-2 * np.sin(np.pi * r / (period / T)) ** 2)


# Chronos's bank, each entry equally likely (so periodic kernels are drawn most). Stationary kernels
# are functions of the distance r = |x - x'| (evaluated once per lag, then spread over the matrix);
# the others of the grid x itself.
STATIONARY = (
    *((f"periodic({p})", _periodic(p)) for p in PERIODS),
    *((f"rbf({ls:g})", lambda r, T, ls=ls: np.exp(-(r**2) / (2 * ls**2))) for ls in (0.1, 1.0, 10.0)),
    *((f"rq({a:g})", lambda r, T, a=a: (1 + r**2 / (2 * a)) ** -a) for a in (0.1, 1.0, 10.0)),
    *((f"white({n:g})", lambda r, T, n=n: n * (r == 0)) for n in (0.1, 1.0)),
    ("constant", lambda r, T: np.ones_like(r)),
)
NONSTATIONARY = tuple((f"linear({s:g})", lambda x, s=s: s**2 + x[:, None] * x[None, :]) for s in (0.0, 1.0, 10.0))
BANK = STATIONARY + NONSTATIONARY


def random_kernel(rng: np.random.Generator, x: np.ndarray, lags: np.ndarray) -> tuple[np.ndarray, str]:
    """One kernel of the bank on the grid x (T,): its (T, T) matrix and its name; ``lags`` = |i - j|."""
    i = rng.integers(len(BANK))
    if i >= len(STATIONARY):
        name, kernel = NONSTATIONARY[i - len(STATIONARY)]
        return kernel(x), name
    name, kernel = STATIONARY[i]
    return kernel(x - x[0], len(x))[lags], name  # (T,) over distances -> (T, T)


def composite_kernel(rng: np.random.Generator, x: np.ndarray, lags: np.ndarray) -> tuple[np.ndarray, str]:
    """1 .. MAX_KERNELS bank kernels joined left to right by random + or x."""
    K, name = random_kernel(rng, x, lags)
    for _ in range(rng.integers(1, MAX_KERNELS + 1) - 1):
        other, other_name = random_kernel(rng, x, lags)
        if rng.random() < 0.5:
            K, name = K + other, f"({name} + {other_name})"
        else:
            K, name = K * other, f"({name} * {other_name})"
    return K, name


def sample_path(rng: np.random.Generator, K: np.ndarray) -> np.ndarray | None:
    """One draw of N(0, K) (T,), or None when K is not positive definite even with jitter."""
    z = torch.from_numpy(rng.standard_normal(len(K)))
    scale = max(float(np.mean(np.diag(K))), 1e-12)
    for jitter in (1e-8, 1e-6, 1e-4, MAX_JITTER):
        L, info = torch.linalg.cholesky_ex(torch.from_numpy(K + jitter * scale * np.eye(len(K))))
        if info.item() == 0:
            return (L @ z).numpy()
    return None


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread inside the block (its linear algebra then sums in a fixed order)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def kernelsynth(n: int, length: int = 1024, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """``n`` KernelSynth series (n, length) and the kernel each was drawn from."""
    x = np.arange(length) / length
    index = np.arange(length)
    lags = np.abs(index[:, None] - index[None, :])  # (T, T): which distance each entry is
    values, names = np.empty((n, length)), []
    with one_thread():
        for i, child in enumerate(np.random.SeedSequence(seed).spawn(n)):
            rng = np.random.default_rng(child)
            path = None
            while path is None:  # redraw the kernel in the rare case it is numerically singular
                K, name = composite_kernel(rng, x, lags)
                path = sample_path(rng, K)
            values[i] = path
            names.append(name)
    return values, names


def kernelsynth_frame(n: int, length: int, seed: int) -> pd.DataFrame:
    """The series as a corpus frame: series_id, step, timestamp (none), target ``value``, ``kernel``."""
    values, names = kernelsynth(n, length, seed)
    return pd.DataFrame({
        "series_id": np.repeat([f"kernelsynth/{i:06d}" for i in range(n)], length),
        "step": np.tile(np.arange(length, dtype=np.int64), n),
        "timestamp": np.full(n * length, np.datetime64("NaT", "ns")),
        "value": values.reshape(-1),
        "kernel": np.repeat(names, length),
    })
