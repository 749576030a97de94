"""Detect covariates that are shifted copies of a target or of another covariate.

CityLearn 2022's "6h/12h/24h Prediction ..." columns are the real example: each equals the
actual value h hours later, so a model given them sees the future. A covariate X is flagged when

* ``X[t] == Y[t + k]`` for k in 1..MAX_SHIFT and any other column Y (X holds Y's future), or
* ``X[t] == target[t]`` (a copy of the target), or
* X is known over the horizon (known_future / intervention) and ``X[t] == target[t - k]`` with
  k < horizon (inside the horizon X would reveal target values not yet observed),

exactly on the overlapping finite values, or with correlation above MIN_CORR. Only the first
series is scanned (its first MAX_ROWS rows): leakage is a property of how a column was built.
"""

from __future__ import annotations

import warnings

import numpy as np

from tsloop.data.readers import SeriesData
from tsloop.data.spec import TaskSpec

MAX_SHIFT = 48  # steps
MIN_CORR = 0.999
MAX_ROWS = 10_000  # rows of the first series scanned
SCREEN_CORR = 0.99  # cheap screen on NaN-filled data before the exact check
COVARIATE_ROLES = ("past_exog", "known_future", "intervention")
FUTURE_KNOWN = ("known_future", "intervention")


def find_leaks(spec: TaskSpec, series: SeriesData) -> list[str]:
    """One warning per leaking covariate, naming the column it copies and the shift."""
    names, roles, data = _columns(spec, series)
    if not any(role in COVARIATE_ROLES for role in roles) or data.shape[0] < 4 * MAX_SHIFT:
        return []
    z = _standardise(data)
    n = len(data)
    found: dict[int, list[tuple[int, int, str]]] = {}  # covariate -> [(other column, shift, how)]
    for k in range(MAX_SHIFT + 1):
        # corr[i, j] ~ corr(col_i[t + k], col_j[t]): high when column j holds column i's value k steps later
        # einsum, not BLAS matmul: BLAS threads can stall for seconds on a busy 2-core machine
        corr = np.einsum("ti,tj->ij", z[k:], z[: n - k]) / (n - k)
        for i, j in zip(*np.nonzero(corr > SCREEN_CORR)):
            i, j = int(i), int(j)
            if i == j:
                continue
            if roles[j] in COVARIATE_ROLES and (k >= 1 or roles[i] == "target"):
                how = _match(data[:, j], data[:, i], k)  # X = j leads Y = i by k
                if how:
                    found.setdefault(j, []).append((i, k, how))
            if 1 <= k < spec.horizon and roles[i] in FUTURE_KNOWN and roles[j] == "target":
                how = _match(data[:, i], data[:, j], -k)  # X = i lags the target j by k
                if how:
                    found.setdefault(i, []).append((j, -k, how))
    leaking = set(found)
    return [_message(names, roles, x, hits, leaking) for x, hits in sorted(found.items())]


def _match(x: np.ndarray, y: np.ndarray, k: int) -> str:
    """'exactly' or 'corr 0.9995' if x[t] matches y[t + k] on the overlap, else ''."""
    n = len(x)
    a, b = (x[: n - k], y[k:]) if k >= 0 else (x[-k:], y[: n + k])
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 2 * MAX_SHIFT or np.all(a == a[0]):
        return ""
    if np.array_equal(a, b):
        return "exactly"
    if np.std(b) == 0:
        return ""
    r = float(np.corrcoef(a, b)[0, 1])
    return f"correlation {r:.4f}" if r > MIN_CORR else ""


def _message(names: list[str], roles: list[str], x: int, hits: list[tuple[int, int, str]], leaking: set[int]) -> str:
    # name the most basic original: a target, then a column that is not itself a shifted copy
    hits = sorted(hits, key=lambda h: (roles[h[0]] != "target", h[0] in leaking, h[2] != "exactly", abs(h[1])))
    y, k, how = hits[0]
    also = f"; it also matches {len(hits) - 1} other column/shift pair(s)" if len(hits) > 1 else ""
    X, Y = repr(names[x]), repr(names[y])
    if k == 0:
        what = f"equals target {Y} ({how}): the model would be given the value it must predict"
    elif k > 0:
        what = f"equals {roles[y]} {Y} shifted by {k} step(s) ({how}: {X}[t] = {Y}[t+{k}]), so it holds future values"
    else:
        what = (
            f"equals target {Y} lagged by {-k} step(s) ({how}: {X}[t] = {Y}[t-{-k}]); known over the "
            "horizon, it reveals target values inside the horizon"
        )
    return (
        f"possible leakage: {roles[x]} {X} {what}{also}. Drop it unless it is truly available at "
        "forecast time (an oracle 'prediction' that equals the actual value is not)."
    )


def _columns(spec: TaskSpec, series: SeriesData) -> tuple[list[str], list[str], np.ndarray]:
    names, roles, blocks = [], [], []
    for role in ("target",) + COVARIATE_ROLES:
        read = spec.data_columns(role)  # not the calendar features, which follow them
        names += read
        roles += [role] * len(read)
        blocks.append(series.values[role][:MAX_ROWS, : len(read)])
    return names, roles, np.concatenate(blocks, axis=1) if blocks else np.empty((0, 0))


def _standardise(data: np.ndarray) -> np.ndarray:
    """Columns scaled to mean 0, std 1 (NaN -> 0); constant columns become all zero."""
    finite = np.where(np.isfinite(data), data, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns: 'mean of empty slice'
        mean = np.nanmean(finite, axis=0)
        std = np.nanstd(finite, axis=0)
        z = (finite - mean) / np.where(std > 0, std, np.inf)
    return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
