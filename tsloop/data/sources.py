"""Named loaders for the shared datasets (see ``datasets/*/README.md``), read from the data root.

A task file uses one with ``source: {loader: nab, series: realKnownCause/nyc_taxi}``; the
loader returns a frame whose columns the task's roles then name. Loaders transform in memory
only; nothing is written back (ETT's licence forbids modified copies).

* ``ett`` (``name``): ETTh1 as upstream (``date``, 6 loads, ``OT``).
* ``epf`` (``market``: NP, PJM, BE, FR): as upstream; header names keep their leading space.
* ``nab`` (``series``: '<category>/<file>'): ``timestamp``, ``value``, ``event``. Resampled on
  purpose to the series' modal step: each row is snapped to the nearest point of that grid
  (anchored at the first timestamp), rows landing on the same point are averaged (e.g. the
  repeated hour in machine_temperature), empty points keep value NaN (a masked target). The
  point labels of ``labels/combined_labels.json`` set ``event`` = 1 at their nearest grid point.
* ``smap`` (``channel``: E-9): adds an integer ``step`` column (freq 'step'); ``0`` telemetry,
  ``1``..``24`` command one-hots, ``Label`` anomaly flag.
* ``citylearn2022`` (``building``: 1..12): building columns joined with weather, pricing and
  carbon intensity; all-NaN and all-zero columns dropped; a synthetic hourly ``timestamp``
  from ``start``. The oracle "Prediction" columns are dropped unless ``predictions: true``.
* ``plant``, ``tumour``: the simulators' frames (``tsloop.sim``; see their data cards).
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import polars as pl

from tsloop.data.paths import require_data_root
from tsloop.data.spec import did_you_mean
from tsloop.errors import DataError, SpecError

EPF_MARKETS = ("NP", "PJM", "BE", "FR")
# First row is Month 7 / Hour 24 (hour ending at midnight): the hour starting 23:00 on 31 July.
# The year is not given upstream; 2022 matches its Day Type (1 = Monday ... 7 = Sunday).
CITYLEARN_START = "2022-07-31 23:00:00"


def load_source(source: dict) -> pl.DataFrame | pd.DataFrame:
    """Run the loader named by ``source['loader']`` with the other keys as arguments."""
    args = dict(source)
    name = args.pop("loader")
    if name not in LOADERS:
        raise SpecError(f"unknown source loader {name!r}.{did_you_mean(str(name), list(LOADERS))} Loaders: {', '.join(LOADERS)}.")
    loader = LOADERS[name]
    if isinstance(loader, str):
        module, function = loader.split(":")
        loader = getattr(importlib.import_module(module), function)
    accepted = list(inspect.signature(loader).parameters)
    for key in args:
        if key not in accepted:
            raise SpecError(
                f"source loader {name!r} takes no argument {key!r}.{did_you_mean(str(key), accepted)} "
                f"It accepts: {', '.join(accepted)}."
            )
    return loader(**args)


def load_ett(name: str = "ETTh1") -> pl.DataFrame:
    """ETT hourly data as upstream: ``date``, HUFL, HULL, MUFL, MULL, LUFL, LULL, OT."""
    return _csv(f"ett/{name}.csv.gz", f"ETT file {name!r} (only ETTh1 is in the shared data)")


def load_epf(market: str = "NP") -> pl.DataFrame:
    """EPF day-ahead market ``market`` (NP, PJM, BE, FR) as upstream: ``date``, 2 forecasts, ``OT``."""
    if market not in EPF_MARKETS:
        raise SpecError(f"EPF market {market!r} unknown.{did_you_mean(str(market), EPF_MARKETS)} Markets: {EPF_MARKETS}.")
    return _csv(f"epf/{market}.csv.gz", f"EPF market {market}")


def load_nab(series: str) -> pd.DataFrame:
    """One NAB series on a regular grid with its point labels as an ``event`` column (module docstring)."""
    root = require_data_root()
    key = series.removesuffix(".gz").removesuffix(".csv")
    keys = [p.relative_to(root / "nab" / "data").as_posix()[: -len(".csv.gz")] for p in sorted((root / "nab" / "data").glob("*/*.csv.gz"))]
    if key not in keys:
        names = {k.split("/")[-1]: k for k in keys}
        hint = f" Did you mean {names[key]!r}?" if key in names else did_you_mean(key, keys)
        raise SpecError(f"NAB series {series!r} not found under {root / 'nab' / 'data'}.{hint} Use '<category>/<name>'.")
    raw = pl.read_csv(root / "nab" / "data" / f"{key}.csv.gz", infer_schema=False)
    time = raw["timestamp"].str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="ns").cast(pl.Int64).to_numpy()
    value = raw["value"].cast(pl.Float64).to_numpy()
    order = np.argsort(time, kind="stable")
    time, value = time[order], value[order]
    steps = np.diff(time)
    steps = steps[steps > 0]
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[np.argmax(counts)]) if len(values) else 1  # the modal step
    slot = np.rint((time - time[0]) / step).astype(np.int64)
    sums = np.bincount(slot, weights=value)
    counts = np.bincount(slot)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid_value = np.where(counts > 0, sums / counts, np.nan)
    event = np.zeros(len(grid_value))
    labels = json.loads((root / "nab" / "labels" / "combined_labels.json").read_text()).get(f"{key}.csv", [])
    for label in labels:
        t = pd.Timestamp(label).value
        event[int(np.clip(np.rint((t - time[0]) / step), 0, len(event) - 1))] = 1.0
    grid_time = pd.to_datetime(time[0] + step * np.arange(len(grid_value), dtype=np.int64))
    return pd.DataFrame({"timestamp": grid_time, "value": grid_value, "event": event})


def load_smap(channel: str = "E-9") -> pl.DataFrame:
    """TSB-AD's SMAP channel file with an integer ``step`` column first."""
    root = require_data_root()
    found = sorted((root / "smap").glob(f"*_SMAP_{channel}_*.csv.gz"))
    if not found:
        raise SpecError(f"SMAP channel {channel!r} not found under {root / 'smap'} (only E-9 is in the shared data).")
    frame = pl.read_csv(found[0], infer_schema=False)
    return frame.with_row_index("step").with_columns(pl.col("step").cast(pl.Int64))


def load_citylearn2022(
    building: int = 1,
    weather: bool = True,
    pricing: bool = True,
    carbon: bool = True,
    predictions: bool = False,
    start: str = CITYLEARN_START,
) -> pd.DataFrame:
    """One CityLearn 2022 home, joined with the shared weather/pricing/carbon files (module docstring)."""
    parts = [_csv(f"citylearn2022/Building_{building}.csv.gz", f"CityLearn building {building!r}").to_pandas()]
    for wanted, name in ((weather, "weather"), (pricing, "pricing"), (carbon, "carbon_intensity")):
        if wanted:
            parts.append(_csv(f"citylearn2022/{name}.csv.gz", name).to_pandas())
    frame = pd.concat(parts, axis=1).apply(pd.to_numeric, errors="coerce")
    if not predictions:
        frame = frame.loc[:, [c for c in frame.columns if "Prediction" not in c]]
    empty = [c for c in frame.columns if frame[c].isna().all() or (frame[c].fillna(0) == 0).all()]
    frame = frame.drop(columns=empty)
    frame.insert(0, "timestamp", pd.date_range(start, periods=len(frame), freq="h"))
    return frame


# name -> loader, or "module:function" imported on first use (the simulators are heavier)
LOADERS: dict[str, Callable | str] = {
    "ett": load_ett,
    "epf": load_epf,
    "nab": load_nab,
    "smap": load_smap,
    "citylearn2022": load_citylearn2022,
    "plant": "tsloop.sim.plant.frame:load_plant_frame",
    "tumour": "tsloop.sim.tumour.frame:load_tumour_frame",
}


def _csv(relative: str, what: str) -> pl.DataFrame:
    path = require_data_root() / relative
    if not path.is_file():
        raise SpecError(f"{what}: file {path} not found in the data root.")
    try:
        return pl.read_csv(path, infer_schema=False)
    except pl.exceptions.PolarsError as err:
        raise DataError(f"could not read {path}: {err}") from None
