"""Convert between a task and GluonTS datasets (lists of data entries).

Layout of an entry (one per series, multivariate by default):

* ``target``: raw (unscaled) values, shape (T,) for one target column, (Ct, T) for several;
  with ``multivariate=False`` there is one entry per (series, target column) instead, each
  naming its column in ``target_name`` (GluonTS' univariate models want this).
* ``feat_dynamic_real`` (Ck + Ci, T): known-future then intervention columns (known over the
  horizon, which is what GluonTS means by this field).
* ``past_feat_dynamic_real`` (Cp + Ce, T): past-only columns, then event labels (labels are
  observed only up to now, so they travel as past-only features).
* ``feat_static_real`` (Cs,), ``item_id`` (the series id), ``start`` (a ``pandas.Period``).
  For freq 'step' the start is ``Period(ordinal=step, freq='s')`` (pass the spec back to
  ``from_gluonts`` to read it as steps again).

Values stay float64, so ``to_gluonts`` -> ``from_gluonts`` returns them bit for bit. (Wrapping in
``ListDataset`` converts to float32, as GluonTS does.) A Period keeps time only to its unit
(e.g. whole minutes for '5min'), so sub-unit start offsets such as NAB's ':53' seconds are floored.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tsloop.data import split as splits
from tsloop.data.spec import STEP_FREQ, TaskSpec
from tsloop.errors import DataError

if TYPE_CHECKING:
    from tsloop.data.task import TelemetryTask

STEP_PERIOD_FREQ = "s"  # Period freq standing in for an integer step index


def to_gluonts(task: TelemetryTask, part: str = "all", multivariate: bool = True, list_dataset: bool = False) -> list[dict]:
    """Entries for the rows of ``part`` ('all', or 'train'/'val'/'test' with its borrowed context)."""
    spec = task.spec
    freq = gluonts_freq(spec)
    entries = []
    for s, item in enumerate(task.series):
        lo, hi = (0, len(item)) if part == "all" else _rows(task, s, part)
        v = {role: values[lo:hi].T.astype(np.float64) for role, values in item.values.items()}  # (C, T)
        common = {
            "start": _period(int(item.time[lo]), spec, freq),
            "item_id": item.series_id,
            "feat_dynamic_real": np.concatenate([v["known_future"], v["intervention"]]),
            "past_feat_dynamic_real": np.concatenate([v["past_exog"], v["event"]]),
            "feat_static_real": v["static"][:, 0] if hi > lo else np.zeros(len(spec.static)),
        }
        if multivariate:
            target = v["target"][0] if len(spec.target) == 1 else v["target"]
            entries.append({**common, "target": target})
        else:
            entries += [{**common, "target": v["target"][j], "target_name": c} for j, c in enumerate(spec.target)]
    if list_dataset:
        from gluonts.dataset.common import ListDataset

        return ListDataset(entries, freq=freq, one_dim_target=not multivariate or len(spec.target) == 1)
    return entries


def from_gluonts(
    dataset: Iterable[dict],
    spec: TaskSpec | None = None,
    freq: str | None = None,
    context_length: int | None = None,
    horizon: int | None = None,
) -> tuple[TaskSpec, pd.DataFrame]:
    """A spec and a frame from GluonTS entries; ``spec`` (e.g. the one exported) restores names and roles.

    Without ``spec``, columns are named after their field (``target_0``, ``feat_dynamic_real_0``
    as known_future, ``past_feat_dynamic_real_0`` as past_exog, ``feat_static_real_0`` as static),
    the series id column is ``item_id`` and ``context_length``/``horizon`` must be given.
    """
    groups: dict[str, list[dict]] = {}
    for n, entry in enumerate(dataset):
        groups.setdefault(str(entry.get("item_id", n)), []).append(entry)
    if not groups:
        raise DataError("the GluonTS dataset is empty.")
    first = next(iter(groups.values()))[0]
    if spec is None:
        spec = _infer_spec(first, len(next(iter(groups.values()))), freq, context_length, horizon)
    frames = []
    for item_id, entries in groups.items():
        frames.append(_entry_frame(spec, item_id, entries))
    frame = pd.concat(frames, ignore_index=True)
    return spec.with_data(None), frame


def gluonts_freq(spec: TaskSpec) -> str:
    """The pandas Period frequency GluonTS uses for the task ('h', '5min', ...)."""
    if spec.freq == STEP_FREQ:
        return STEP_PERIOD_FREQ
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return pd.tseries.frequencies.to_offset(spec.freq).freqstr


# -- helpers ---------------------------------------------------------------------------------


def _rows(task: TelemetryTask, s: int, part: str) -> tuple[int, int]:
    if part not in splits.PARTS:
        raise ValueError(f"part must be 'all' or one of {splits.PARTS}, got {part!r}")
    bounds = task.parts(s)[part]
    return bounds.start, bounds.end


def _period(t: int, spec: TaskSpec, freq: str) -> pd.Period:
    if spec.is_step_index:
        return pd.Period(ordinal=t, freq=STEP_PERIOD_FREQ)
    return pd.Period(pd.Timestamp(t), freq=freq)


def _entry_frame(spec: TaskSpec, item_id: str, entries: list[dict]) -> pd.DataFrame:
    head = entries[0]
    targets = np.concatenate([np.atleast_2d(np.asarray(e["target"], dtype=np.float64)) for e in entries])
    if len(targets) != len(spec.target):
        raise DataError(f"item {item_id!r} has {len(targets)} target channel(s); the spec names {len(spec.target)}.")
    T = targets.shape[1]
    start = head["start"]
    if spec.is_step_index:
        time = start.ordinal + np.arange(T)
    else:
        time = pd.period_range(start, periods=T).to_timestamp()
    columns: dict[str, object] = {spec.timestamp: time}
    if spec.series_id:
        columns[spec.series_id] = item_id
    blocks = {
        "target": targets,
        "known_future + intervention": _field(head, "feat_dynamic_real", T),
        "past_exog + event": _field(head, "past_feat_dynamic_real", T),
    }
    names = {
        "target": spec.target,
        "known_future + intervention": spec.known_future + spec.intervention,
        "past_exog + event": spec.past_exog + spec.event,
    }
    for key, block in blocks.items():
        if len(block) != len(names[key]):
            raise DataError(f"item {item_id!r} has {len(block)} {key} channel(s); the spec names {len(names[key])}.")
        for name, row in zip(names[key], block):
            columns[name] = row
    static = np.asarray(head.get("feat_static_real", np.zeros(0)), dtype=np.float64).reshape(-1)
    for name, value in zip(spec.static, static):
        columns[name] = np.full(T, value)
    return pd.DataFrame(columns)


def _field(entry: dict, key: str, T: int) -> np.ndarray:
    value = entry.get(key)
    return np.zeros((0, T)) if value is None else np.atleast_2d(np.asarray(value, dtype=np.float64))


def _infer_spec(entry: dict, n_targets: int, freq: str | None, context_length: int | None, horizon: int | None) -> TaskSpec:
    if context_length is None or horizon is None:
        raise DataError("from_gluonts needs context_length and horizon when no spec is given.")
    start = entry["start"]
    freq = freq or start.freqstr
    target = np.atleast_2d(np.asarray(entry["target"]))
    targets = len(target) if n_targets == 1 else n_targets

    def names(key: str) -> list[str]:
        value = entry.get(key)
        width = 0 if value is None else np.atleast_2d(np.asarray(value)).shape[0]
        if key == "feat_static_real" and value is not None:
            width = np.asarray(value).reshape(-1).shape[0]
        return [f"{key}_{i}" for i in range(width)]

    return TaskSpec(
        name="gluonts",
        target=[f"target_{i}" for i in range(targets)],
        freq=freq,
        context_length=context_length,
        horizon=horizon,
        format="long",
        series_id="item_id",
        known_future=names("feat_dynamic_real"),
        past_exog=names("past_feat_dynamic_real"),
        static=names("feat_static_real"),
    )
