"""Per-series, per-channel standard scaling fitted on the train part only.

* target, past_exog, known_future, intervention: ``(x - mean[s, c]) / std[s, c]`` with statistics
  of series s's train rows (NaN-aware; a channel with zero or undefined spread gets std 1).
* static: one value per series, so it is scaled across series (mean/std over the series).
* event: left as 0/1. Masks are never scaled.

The scaler serialises to a plain dict of lists (:meth:`StandardScaler.to_dict`) for
checkpoints; no pickle.

Example::

    y = scaler.inverse_transform(pred, batch["series_index"], role="target")   # pred (B, H, Ct)
    q = scaler.inverse_transform(quant, idx, role="target", channel_axis=2)   # quant (B, H, Ct, Q)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tsloop.data.readers import SeriesData
from tsloop.data.spec import ROLES, TaskSpec
from tsloop.errors import DataError

PER_SERIES_ROLES = ("target", "past_exog", "known_future", "intervention")
Array = np.ndarray | torch.Tensor


@dataclass
class StandardScaler:
    """Mean and std per role: (S, C) for per-series roles, (C,) for statics; events unscaled."""

    series_ids: list[str]
    columns: dict[str, list[str]]  # role -> column names
    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]

    @classmethod
    def fit(cls, spec: TaskSpec, series: list[SeriesData], train_rows: list[int]) -> "StandardScaler":
        """Fit on rows [0, train_rows[s]) of each series s."""
        mean, std = {}, {}
        for role in PER_SERIES_ROLES:
            mean[role], std[role] = _grouped_stats([item.values[role][:end] for item, end in zip(series, train_rows)])
        per_series = np.stack([item.values["static"][0] for item in series])  # (S, Cs)
        mean["static"], std["static"] = (m[0] for m in _grouped_stats([per_series]))
        return cls([item.series_id for item in series], spec.roles, mean, std)

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
        }

    @classmethod
    def from_dict(cls, raw: dict) -> "StandardScaler":
        columns = {r: list(raw["columns"].get(r, [])) for r in ROLES}

        def arrays(key: str) -> dict[str, np.ndarray]:
            out = {}
            for role in PER_SERIES_ROLES:
                out[role] = np.asarray(raw[key][role], dtype=np.float64).reshape(len(raw["series_ids"]), len(columns[role]))
            out["static"] = np.asarray(raw[key]["static"], dtype=np.float64).reshape(len(columns["static"]))
            return out

        return cls(list(raw["series_ids"]), columns, arrays("mean"), arrays("std"))

    def _apply(self, values: Array, series_index: int | Array, role: str, channel_axis: int, inverse: bool) -> Array:
        if role == "event":
            return values
        if role not in self.mean:
            raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
        mean, std = self.mean[role], self.std[role]
        if role in PER_SERIES_ROLES:
            index = series_index.cpu().numpy() if isinstance(series_index, torch.Tensor) else np.asarray(series_index)
            mean, std = mean[index], std[index]  # (C,) or (B, C)
        is_torch = isinstance(values, torch.Tensor)
        moved = torch.movedim(values, channel_axis, -1) if is_torch else np.moveaxis(values, channel_axis, -1)
        if moved.shape[-1] != mean.shape[-1]:
            raise ValueError(f"{role} has {mean.shape[-1]} channels, got {moved.shape[-1]} on axis {channel_axis}")
        if mean.ndim == 2:  # one series per entry of axis 0: (B, C) -> (B, 1, ..., 1, C)
            shape = (mean.shape[0],) + (1,) * (moved.ndim - 2) + (mean.shape[1],)
            mean, std = mean.reshape(shape), std.reshape(shape)
        if is_torch:
            mean = torch.as_tensor(mean, dtype=values.dtype, device=values.device)
            std = torch.as_tensor(std, dtype=values.dtype, device=values.device)
        out = moved * std + mean if inverse else (moved - mean) / std
        if not is_torch and np.issubdtype(np.asarray(values).dtype, np.floating):
            out = out.astype(np.asarray(values).dtype, copy=False)
        return torch.movedim(out, -1, channel_axis) if is_torch else np.moveaxis(out, -1, channel_axis)


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
