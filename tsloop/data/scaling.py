"""Per-series, per-channel standard scaling fitted on the train part only, after a per-column transform.

* target, past_exog, known_future, intervention: ``(f(x) - mean[s, c]) / std[s, c]`` with statistics
  of ``f(x)`` over series s's train rows (NaN-aware; a channel with zero or undefined spread gets
  std 1). ``f`` is the column's transform from the task's ``transforms`` (identity by default):
  ``log1p`` (x >= 0), ``log`` (x > 0) or ``asinh`` (any sign) tame heavy tails such as a p95
  latency that jumps from 80 ms to 20 s, so model outputs come back positive with narrow bands.
  :meth:`StandardScaler.inverse_transform` de-standardises, then inverts ``f`` (expm1, exp, sinh).
* static: one value per series, so it is scaled across series (mean/std over the series).
* event: left as 0/1. Masks are never scaled.

Every consumer (windows, predict batches, forecasts) goes through :meth:`~StandardScaler.transform`
and :meth:`~StandardScaler.inverse_transform`, so transforms need no code outside this module.
The scaler serialises to a plain dict of lists (:meth:`StandardScaler.to_dict`) for
checkpoints; no pickle.

Example (the scaler a task fits on its train part; latency is scaled in log space)::

    >>> import numpy as np
    >>> from tsloop.data.spec import TaskSpec
    >>> from tsloop.data.task import load_task
    >>> from tsloop.sim.plant import load_plant_frame
    >>> spec = TaskSpec(target=["latency_p95", "cpu_util"], transforms={"latency_p95": "log1p"},
    ...                 freq="15min", context_length=32, horizon=8, series_id="series")
    >>> scaler = load_task(spec, frame=load_plant_frame(series=2, steps=800, step_minutes=15)).scaler
    >>> raw = np.array([[[80.0, 0.5], [20_000.0, 0.9]]])         # (B=1, H=2, Ct) in data units
    >>> scaled = scaler.transform(raw, [1], role="target")        # series_index: one per entry of axis 0
    >>> pred = scaled                                             # a model's output (B, H, Ct)
    >>> y = scaler.inverse_transform(pred, [1], role="target")
    >>> bool(np.allclose(y, raw))
    True
    >>> quant = np.stack([scaled - 1, scaled, scaled + 1], axis=-1)   # (B, H, Ct, Q)
    >>> q = scaler.inverse_transform(quant, [1], role="target", channel_axis=2)
    >>> q.shape, bool((q[0, :, 0, 0] > 0).all())                  # log1p: latency quantiles stay positive
    ((1, 2, 2, 3), True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from tsloop.data.readers import SeriesData, format_time
from tsloop.data.spec import ROLES, TRANSFORM_ROLES, TRANSFORMS, TaskSpec
from tsloop.errors import CheckpointError, DataError

PER_SERIES_ROLES = TRANSFORM_ROLES  # target, past_exog, known_future, intervention
Array = np.ndarray | torch.Tensor
# transform -> (forward, inverse): function names shared by numpy and torch
_FUNCTIONS = {"log1p": ("log1p", "expm1"), "log": ("log", "exp"), "asinh": ("arcsinh", "sinh")}
# transform -> (lowest value, whether the lowest value itself is allowed), for the domain checks
_DOMAIN = {"log1p": (0.0, True), "log": (0.0, False)}
_FIX = {
    "log1p": "Use asinh for a channel that can go negative, or remove {column!r} from transforms.",
    "log": "Use log1p if the channel can be 0, asinh if it can go negative, or remove {column!r} from transforms.",
}
assert set(_FUNCTIONS) | {"identity"} == set(TRANSFORMS)  # the names spec.py validates are the ones implemented here


@dataclass
class StandardScaler:
    """Mean and std per role: (S, C) for per-series roles, (C,) for statics; events unscaled.

    Statistics are of the transformed values for columns in ``transforms``.
    """

    series_ids: list[str]
    columns: dict[str, list[str]]  # role -> column names
    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]
    transforms: dict[str, str] = field(default_factory=dict)  # column -> transform name; absent = identity
    low: dict[str, np.ndarray] = field(default_factory=dict)  # role -> (S, C) raw train minimum
    high: dict[str, np.ndarray] = field(default_factory=dict)  # role -> (S, C) raw train maximum

    @classmethod
    def fit(cls, spec: TaskSpec, series: list[SeriesData], train_rows: list[int]) -> "StandardScaler":
        """Fit on rows [0, train_rows[s]) of each series s, after each column's transform.

        Every row (not only train rows) must lie in its transform's domain, since every row is
        scaled later; a value outside raises DataError naming the column, series, row and time.
        """
        transforms = {column: name for column, name in spec.transforms.items() if name != "identity"}
        scaler = cls([item.series_id for item in series], spec.roles, {}, {}, transforms)
        for item in series:
            scaler.check_domain(spec, item)
        for role in PER_SERIES_ROLES:
            names = scaler.channel_transforms(role)
            blocks = [_forward(item.values[role][:end], names) for item, end in zip(series, train_rows)]
            scaler.mean[role], scaler.std[role] = _grouped_stats(blocks)
            scaler.low[role], scaler.high[role] = _grouped_range([item.values[role][:end] for item, end in zip(series, train_rows)])
        per_series = np.stack([item.values["static"][0] for item in series])  # (S, Cs)
        scaler.mean["static"], scaler.std["static"] = (m[0] for m in _grouped_stats([per_series]))
        return scaler

    def channel_transforms(self, role: str) -> list[str]:
        """The transform name of each channel of ``role`` (all 'identity' for statics and events)."""
        if role not in PER_SERIES_ROLES:
            return ["identity"] * len(self.columns.get(role, []))
        return [self.transforms.get(column, "identity") for column in self.columns[role]]

    def check_domain(self, spec: TaskSpec, item: SeriesData) -> None:
        """Raise DataError at the first raw value of ``item`` outside its column's transform domain."""
        for role in PER_SERIES_ROLES:
            found = _first_violation(item.values[role], self.channel_transforms(role))
            if found is None:
                continue
            (row,), j, count = found
            column = self.columns[role][j]
            where = f"series {item.series_id!r}" if spec.series_id else "the series"
            more = f", the first of {count} such values" if count > 1 else ""
            raise DataError(
                f"{_domain_problem(role, column, self.transforms[column])}; {where} holds "
                f"{item.values[role][row, j]:g} at row {item.rows[row]} "
                f"({format_time(item.time[row], spec.is_step_index)}){more}. "
                + _FIX[self.transforms[column]].format(column=column)
            )

    def index(self, series_id: str) -> int:
        """Position of a series id (the ``series_index`` of its windows)."""
        try:
            return self.series_ids.index(series_id)
        except ValueError:
            shown = ", ".join(repr(s) for s in self.series_ids[:10])
            raise DataError(
                f"series {series_id!r} was not in the training data (known: {shown}"
                f"{' ...' if len(self.series_ids) > 10 else ''}); its scaling is unknown."
            ) from None

    def transform(self, values: Array, series_index: int | Array, role: str = "target", channel_axis: int = -1) -> Array:
        """Scale raw values of ``role``; ``series_index`` is one int or one per entry of axis 0."""
        return self._apply(values, series_index, role, channel_axis, inverse=False)

    def inverse_transform(
        self, values: Array, series_index: int | Array, role: str = "target", channel_axis: int = -1
    ) -> Array:
        """Undo :meth:`transform`: model outputs back to the data's units."""
        return self._apply(values, series_index, role, channel_axis, inverse=True)

    def to_dict(self) -> dict:
        """Plain lists and strings, JSON/YAML-safe."""
        return {
            "kind": "standard",
            "series_ids": list(self.series_ids),
            "columns": {r: list(c) for r, c in self.columns.items()},
            "mean": {r: m.tolist() for r, m in self.mean.items()},
            "std": {r: s.tolist() for r, s in self.std.items()},
            "transforms": dict(self.transforms),
            "low": {r: m.tolist() for r, m in self.low.items()},
            "high": {r: m.tolist() for r, m in self.high.items()},
        }

    @classmethod
    def from_dict(cls, raw: dict) -> "StandardScaler":
        """Inverse of :meth:`to_dict`; dicts written before transforms existed load as identity."""
        columns = {r: list(raw["columns"].get(r, [])) for r in ROLES}
        transforms = dict(raw.get("transforms") or {})
        for column, name in transforms.items():
            if name not in TRANSFORMS:
                raise CheckpointError(
                    f"the stored scaler gives column {column!r} the unknown transform {name!r} (known: "
                    f"{', '.join(TRANSFORMS)}); the checkpoint is corrupted or from a newer tsloop."
                )

        def arrays(key: str) -> dict[str, np.ndarray]:
            out = {}
            if key not in raw:  # ranges were added later: unknown means unbounded
                fill = -np.inf if key == "low" else np.inf
                return {r: np.full((len(raw["series_ids"]), len(columns[r])), fill) for r in PER_SERIES_ROLES}
            for role in PER_SERIES_ROLES:
                out[role] = np.asarray(raw[key][role], dtype=np.float64).reshape(len(raw["series_ids"]), len(columns[role]))
            if "static" in raw[key]:
                out["static"] = np.asarray(raw[key]["static"], dtype=np.float64).reshape(len(columns["static"]))
            return out

        return cls(list(raw["series_ids"]), columns, arrays("mean"), arrays("std"), transforms,
                   arrays("low"), arrays("high"))

    def plausible_range(self, series_index: Array, role: str = "target", margin: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(low, high), each (B, C): the raw train range of each series widened by ``margin`` times its
        width on both sides. Forecast samples are kept inside it, so a quantile tail extrapolated
        through exp/expm1 cannot come back as 10^9 ms of latency."""
        index = np.asarray(series_index)
        low, high = self.low[role][index], self.high[role][index]
        width = np.where(np.isfinite(high - low), high - low, 0.0)
        return low - margin * width, high + margin * width

    def _apply(self, values: Array, series_index: int | Array, role: str, channel_axis: int, inverse: bool) -> Array:
        if role == "event":
            return values
        if role not in self.mean:
            raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
        mean, std = self.mean[role], self.std[role]
        index = None
        if role in PER_SERIES_ROLES:
            index = series_index.cpu().numpy() if isinstance(series_index, torch.Tensor) else np.asarray(series_index)
            mean, std = mean[index], std[index]  # (C,) or (B, C)
        is_torch = isinstance(values, torch.Tensor)
        moved = torch.movedim(values, channel_axis, -1) if is_torch else np.moveaxis(values, channel_axis, -1)
        if moved.shape[-1] != mean.shape[-1]:
            raise ValueError(f"{role} has {mean.shape[-1]} channels, got {moved.shape[-1]} on axis {channel_axis}")
        names = self.channel_transforms(role)
        if not inverse:
            self._raise_outside_domain(moved, names, role, index)
            moved = _forward(moved, names)
        if mean.ndim == 2:  # one series per entry of axis 0: (B, C) -> (B, 1, ..., 1, C)
            shape = (mean.shape[0],) + (1,) * (moved.ndim - 2) + (mean.shape[1],)
            mean, std = mean.reshape(shape), std.reshape(shape)
        if is_torch:
            mean = torch.as_tensor(mean, dtype=values.dtype, device=values.device)
            std = torch.as_tensor(std, dtype=values.dtype, device=values.device)
        floating = is_torch or np.issubdtype(np.asarray(values).dtype, np.floating)
        dtype = values.dtype if floating else np.float64  # what the result is returned as
        out = _inverse(moved * std + mean, names, dtype) if inverse else (moved - mean) / std
        if not is_torch and floating:
            out = out.astype(dtype, copy=False)
        return torch.movedim(out, -1, channel_axis) if is_torch else np.moveaxis(out, -1, channel_axis)

    def _raise_outside_domain(self, moved: Array, names: list[str], role: str, index: np.ndarray | None) -> None:
        found = _first_violation(moved, names)
        if found is None:
            return
        position, j, count = found
        column = self.columns[role][j]
        series = index if index is None or index.ndim == 0 else index[position[0]]  # one series per axis-0 entry
        value = float(moved[position + (j,)])
        more = f", the first of {count} such values" if count > 1 else ""
        raise DataError(
            f"{_domain_problem(role, column, self.transforms[column])}; the values of series "
            f"{self.series_ids[int(series)]!r} given for scaling hold {value:g} at position {list(position)}"
            f"{more}. " + _FIX[self.transforms[column]].format(column=column)
        )


def _domain_problem(role: str, column: str, name: str) -> str:
    low, inclusive = _DOMAIN[name]
    return f"{role} column {column!r} has transform {name}, which needs values {'>=' if inclusive else '>'} {low:g}"


def _first_violation(x: Array, names: list[str]) -> tuple[tuple[int, ...], int, int] | None:
    """(position on the leading axes, channel, count) of the first finite value of ``x`` (..., C)
    outside its channel's transform domain; None when all lie inside. Missing values are ignored."""
    is_torch = isinstance(x, torch.Tensor)
    for j, name in enumerate(names):
        if name not in _DOMAIN:
            continue
        low, inclusive = _DOMAIN[name]
        column = x[..., j]
        finite = torch.isfinite(column) if is_torch else np.isfinite(column)  # missing values are masked, not checked
        bad = finite & ((column < low) if inclusive else (column <= low))
        count = int(bad.sum())
        if count:
            first = bad.nonzero()[0] if is_torch else np.argwhere(bad)[0]
            return tuple(int(i) for i in first), j, count
    return None


def _forward(x: Array, names: list[str]) -> Array:
    """Each channel of ``x`` (..., C) through its transform (numpy or torch); identity channels as given."""
    if all(name == "identity" for name in names):
        return x
    lib = torch if isinstance(x, torch.Tensor) else np
    if lib is torch:
        out = x.clone() if x.is_floating_point() else x.to(torch.get_default_dtype())
    else:
        out = np.array(x, dtype=np.result_type(x.dtype, np.float32))  # a float copy, even of integers
    with np.errstate(invalid="ignore", divide="ignore"):  # -inf and friends: missing, masked later
        for j, name in enumerate(names):
            if name != "identity":
                out[..., j] = getattr(lib, _FUNCTIONS[name][0])(x[..., j])
    return out


def _inverse(z: Array, names: list[str], dtype) -> Array:
    """Undo :func:`_forward` on de-standardised ``z`` (..., C) that is returned as ``dtype``.

    Results stay in the transform's range: log1p never gives below 0 (so a latency is never
    negative), and a value past ``dtype``'s range saturates at its largest finite float, not inf.
    """
    if all(name == "identity" for name in names):
        return z
    lib = torch if isinstance(z, torch.Tensor) else np
    top = float(torch.finfo(dtype).max if lib is torch else np.finfo(dtype).max)
    limit = np.log(top) * (1 - 1e-6)  # exp/expm1/sinh of at most this stay finite in z's dtype
    out = z.clone() if lib is torch else z.copy()
    lows = {"log1p": 0.0, "log": -limit, "asinh": -limit}
    for j, name in enumerate(names):
        if name != "identity":
            clipped = lib.clip(z[..., j], lows[name], limit)
            out[..., j] = getattr(lib, _FUNCTIONS[name][1])(clipped)
    return out


def _grouped_range(blocks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Finite min and max per block and column: (S, C) each; -inf/inf where a column has no value."""
    low = np.full((len(blocks), blocks[0].shape[1]), -np.inf)
    high = np.full_like(low, np.inf)
    for s, block in enumerate(blocks):
        finite = np.where(np.isfinite(block), block, np.nan)
        seen = ~np.isnan(finite).all(axis=0)
        if seen.any():
            low[s, seen] = np.nanmin(finite[:, seen], axis=0)
            high[s, seen] = np.nanmax(finite[:, seen], axis=0)
    return low, high


def _grouped_stats(blocks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """NaN/inf-aware mean and std (ddof 0) per block and column: (S, C) each, for S blocks of (n_s, C).

    All-missing -> mean 0, std 1; zero spread -> std 1. Vectorised over blocks (10,000 series
    take milliseconds).
    """
    S, C = len(blocks), blocks[0].shape[1]
    data = np.concatenate(blocks)  # (N, C)
    group = np.repeat(np.arange(S), [len(b) for b in blocks])
    finite = np.isfinite(data)
    mean, std = np.zeros((S, C)), np.ones((S, C))
    for c in range(C):
        ok = finite[:, c]
        count = np.bincount(group[ok], minlength=S)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.bincount(group[ok], weights=data[ok, c], minlength=S) / count
            dev = data[ok, c] - m[group[ok]]
            v = np.bincount(group[ok], weights=dev * dev, minlength=S) / count
        has = count > 0
        mean[has, c] = m[has]
        sd = np.sqrt(v)
        good = has & (sd > 1e-12 * np.maximum(1.0, np.abs(m)))
        std[good, c] = sd[good]
    return mean, std
