"""The task specification: which file, which columns play which role, window sizes, split.

A task file (``tasks/*.yaml``, schema in ``docs/CONTRACTS.md``) is read into a
:class:`TaskSpec`; so are CLI flags (:meth:`TaskSpec.from_flags`) and plain dicts.
Every mistake raises :class:`~tsloop.errors.SpecError` naming the key and the fix.

Example (a task file for a wide CSV of hourly prices; the data file is only read by ``load_task``)::

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "prices.yaml"
    >>> _ = path.write_text('''
    ... name: prices
    ... data: prices.csv
    ... format: wide
    ... timestamp: date
    ... freq: 1h
    ... target: [OT]
    ... known_future: [" Grid load forecast", " Wind power forecast"]
    ... transforms: {OT: asinh}
    ... context_length: 168
    ... horizon: 24
    ... ''')
    >>> spec = TaskSpec.from_yaml(path)            # e.g. TaskSpec.from_yaml("tasks/epf_np.yaml")
    >>> spec.roles["known_future"]
    [' Grid load forecast', ' Wind power forecast']
    >>> spec.dims
    ChannelDims(target=1, past_exog=0, known_future=2, intervention=0, event=0, static=0)
    >>> spec.transforms                            # e.g. {'latency_p95': 'log1p'} for heavy-tailed channels
    {'OT': 'asinh'}
    >>> spec.split                                 # the default: TSLib's 70/10/20
    {'fractions': [0.7, 0.1, 0.2]}
"""

from __future__ import annotations

import dataclasses
import difflib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tsloop.data.batch import ChannelDims
from tsloop.data.calendar import FEATURES as CALENDAR
from tsloop.data.calendar import calendar_columns
from tsloop.data.paths import SHARED_PREFIX, data_root, require_data_root, resolve_path  # noqa: F401 (re-exported)
from tsloop.errors import SpecError
from tsloop.output import atomic_path

ROLES = ("target", "past_exog", "known_future", "intervention", "event", "static")
FORMATS = ("long", "wide")
STEP_FREQ = "step"  # integer time index increasing by 1
DEFAULT_FRACTIONS = (0.7, 0.1, 0.2)  # TSLib Dataset_Custom
# Per-column value transforms applied before standard scaling (implemented in scaling.py), with
# the values each one accepts: shown in errors so users can pick one.
TRANSFORMS = {
    "identity": "any value",
    "log1p": "values >= 0, e.g. latency, queue depth, counts",
    "log": "values > 0",
    "asinh": "any sign, for signed heavy tails such as prices that go negative",
}
TRANSFORM_ROLES = ("target", "past_exog", "known_future", "intervention")  # the per-series scaled roles


def closest(name: str, options: list[str] | tuple[str, ...]) -> str | None:
    """The option most like ``name``: same text once spaces are stripped, same case-folded, else difflib."""
    options = list(options)
    for option in options:
        if option.strip() == name.strip():
            return option
    for option in options:
        if option.strip().casefold() == name.strip().casefold():
            return option
    found = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(name: str, options: list[str] | tuple[str, ...]) -> str:
    """A ' Did you mean ...?' hint (empty when nothing is close), pointing out stray spaces."""
    match = closest(name, options)
    if match is None:
        return ""
    if match.strip() == name.strip() and match != name:
        return (
            f" Did you mean {match!r}? The names differ only in leading/trailing spaces; keep the "
            f"file's exact name and quote it in YAML ({match!r})."
        )
    return f" Did you mean {match!r}?"


def freq_to_ns(freq: str) -> int:
    """Nanoseconds per step of a fixed frequency such as '5min', '1h', '1d'; 1 for 'step'."""
    if freq == STEP_FREQ:
        return 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            offset = pd.tseries.frequencies.to_offset(freq)
        except ValueError:
            offset = None
    if not isinstance(offset, pd.offsets.Tick):
        raise SpecError(
            f"freq: {freq!r} is not a fixed-size step. Use one like '5min', '30min', '1h', '1d', "
            f"or '{STEP_FREQ}' for an integer time index (calendar months and weeks are not fixed)."
        )
    return int(pd.Timedelta(offset).value)


CONTROL_TIMINGS = ("same", "next")  # TaskSpec.control_timing; its lag in rows is the index


@dataclass
class TaskSpec:
    """One forecasting task: data location, column roles, window sizes and split (CONTRACTS.md)."""

    target: list[str]
    freq: str  # '5min', '1h', ... or 'step'
    context_length: int  # L, rows of history per window
    horizon: int  # H, rows forecast per window
    name: str = "task"
    data: str | None = None  # path relative to the task file, or 'shared:<path under the data root>'
    source: dict[str, Any] | None = None  # named loader instead of `data`, e.g. {loader: nab, series: ...}
    format: str | None = None  # 'long' (has a series_id column) or 'wide' (one series); default from series_id
    timestamp: str = "timestamp"
    series_id: str | None = None
    past_exog: list[str] = field(default_factory=list)
    known_future: list[str] = field(default_factory=list)
    intervention: list[str] = field(default_factory=list)
    event: list[str] = field(default_factory=list)
    static: list[str] = field(default_factory=list)
    transforms: dict[str, str] = field(default_factory=dict)  # column -> TRANSFORMS name; others identity
    split: dict[str, list] = field(default_factory=lambda: {"fractions": list(DEFAULT_FRACTIONS)})
    intervention_bounds: dict[str, list[float]] = field(default_factory=dict)
    # When a control logged on a row acts: 'same' = on that row's measurement (it was chosen after
    # the previous row was seen), 'next' = from the next row on (it was chosen after this row was seen).
    control_timing: str = "same"
    calendar: list[str] = field(default_factory=list)  # known-future clock features: hour, weekday, ... (calendar.py)
    allow_outside: bool = False  # let `data` point outside the task file's folder
    base_dir: Path | None = field(default=None, compare=False, repr=False)  # folder `data` is relative to

    def __post_init__(self) -> None:
        _check(self)

    # -- roles -------------------------------------------------------------------------------

    @property
    def roles(self) -> dict[str, list[str]]:
        """Role name -> column names, in the order of ``ROLES`` (empty roles included).

        Calendar features are known-future channels after the data's own ones."""
        return {role: self.columns(role) for role in ROLES}

    def columns(self, role: str) -> list[str]:
        """The role's channels: the data's columns, then (known_future) the calendar features."""
        extra = calendar_columns(self.calendar) if role == "known_future" else []
        return self.data_columns(role) + extra

    def data_columns(self, role: str) -> list[str]:
        """The role's columns read from the data: ``columns(role)`` without the computed calendar
        features, which come after them."""
        return list(getattr(self, role))

    @property
    def value_columns(self) -> list[str]:
        """Every role column, in role order."""
        return [column for role in ROLES for column in self.columns(role)]

    @property
    def dims(self) -> ChannelDims:
        return ChannelDims(**{role: len(self.columns(role)) for role in ROLES})

    @property
    def control_lag(self) -> int:
        """Rows between a logged control and the first measurement it can act on (0 or 1)."""
        return CONTROL_TIMINGS.index(self.control_timing)

    @property
    def step_ns(self) -> int:
        """Size of one step: nanoseconds, or 1 for an integer ('step') time index."""
        return freq_to_ns(self.freq)

    @property
    def is_step_index(self) -> bool:
        return self.freq == STEP_FREQ

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base_dir: str | Path | None = None) -> "TaskSpec":
        """Build from a plain dict (a parsed task file); unknown keys and wrong types raise SpecError."""
        if not isinstance(raw, dict):
            raise SpecError(f"a task spec must be a mapping of keys to values, got {type(raw).__name__}.")
        known = [f.name for f in dataclasses.fields(cls) if f.name != "base_dir"]
        for key in raw:
            if key not in known:
                hint = did_you_mean(str(key), known)
                raise SpecError(f"unknown key {key!r} in the task spec.{hint} Valid keys: {', '.join(known)}.")
        for key in ("target", "freq", "context_length", "horizon"):
            if raw.get(key) is None:
                raise SpecError(f"the task spec needs {key!r} (see docs/CONTRACTS.md for the schema).")
        values = dict(raw)
        for role in ROLES:
            values[role] = _column_list(role, values.get(role))
        defaults = (("split", {"fractions": list(DEFAULT_FRACTIONS)}), ("intervention_bounds", {}), ("transforms", {}),
                ("calendar", []))
        for key, default in defaults:
            if values.get(key) is None:
                values[key] = default
        values = {k: v for k, v in values.items() if v is not None or k in ("data", "source", "series_id")}
        return cls(**values, base_dir=Path(base_dir) if base_dir is not None else None)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TaskSpec":
        """Read a task file; ``data:`` is then relative to the file's folder."""
        path = Path(path)
        if not path.is_file():
            raise SpecError(f"task file {path} not found. Check the path (it is relative to the current folder).")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise SpecError(f"task file {path} is not valid YAML: {err}") from None
        try:
            return cls.from_dict(raw or {}, base_dir=path.resolve().parent)
        except SpecError as err:
            raise SpecError(f"{path}: {err}") from None

    @classmethod
    def from_flags(
        cls,
        data: str,
        target: str | list[str],
        freq: str,
        context_length: int,
        horizon: int,
        *,
        timestamp: str = "timestamp",
        series_id: str | None = None,
        past_exog: str | list[str] | None = None,
        known_future: str | list[str] | None = None,
        intervention: str | list[str] | None = None,
        event: str | list[str] | None = None,
        static: str | list[str] | None = None,
        fractions: str | list[float] | None = None,
        boundaries: str | list[int] | None = None,
        transforms: str | dict[str, str] | None = None,
        calendar: str | list[str] | None = None,
        name: str | None = None,
    ) -> "TaskSpec":
        """Build from command-line flags: lists may be comma-separated strings (names kept exact).

        ``transforms`` is a dict or ``"COLUMN=NAME,COLUMN=NAME"``, e.g. ``"latency_p95=log1p"``.

        A path given on the command line is the user's explicit choice, so it may lie anywhere.
        """
        if fractions is not None and boundaries is not None:
            raise SpecError("give either --fractions or --boundaries, not both.")
        split = {"fractions": list(DEFAULT_FRACTIONS)}
        if fractions is not None:
            split = {"fractions": _numbers("--fractions", fractions, float)}
        if boundaries is not None:
            split = {"boundaries": _numbers("--boundaries", boundaries, int)}
        path = Path(data).expanduser()
        raw = {
            "name": name or path.name.split(".")[0],
            "data": data if data.startswith(SHARED_PREFIX) else str(path.resolve()),
            "timestamp": timestamp,
            "series_id": series_id,
            "freq": freq,
            "target": _split_flag(target),
            "past_exog": _split_flag(past_exog),
            "known_future": _split_flag(known_future),
            "intervention": _split_flag(intervention),
            "event": _split_flag(event),
            "static": _split_flag(static),
            "transforms": _transform_flag(transforms),
            "calendar": _split_flag(calendar),
            "context_length": context_length,
            "horizon": horizon,
            "split": split,
            "allow_outside": True,
        }
        return cls.from_dict(raw, base_dir=Path.cwd())

    # -- output ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in schema order (no base_dir), as written to YAML, MLflow and checkpoints."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "base_dir"}
        if not out["transforms"]:  # specs without transforms serialise (and fingerprint) as before the key existed
            del out["transforms"]
        return {key: _plain(value) for key, value in out.items()}

    def to_yaml(self, path: str | Path) -> Path:
        """Write the spec as a task file, atomically (temporary file in the same folder, then rename)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True))
        return path

    def with_data(self, data: str | None) -> "TaskSpec":
        """A copy that points at other data (e.g. a frame passed in memory: ``data=None``)."""
        return dataclasses.replace(self, data=data)

    # -- paths -------------------------------------------------------------------------------

    def resolve_data(self) -> Path:
        """The data file this spec reads: 'shared:' under the data root, else relative to ``base_dir``."""
        if self.data is None:
            raise SpecError(f"task {self.name!r} has no 'data' path; give one, a 'source', or pass a frame.")
        return resolve_path(self.data, self.base_dir, self.allow_outside)


# -- checks ----------------------------------------------------------------------------------


def _check(spec: TaskSpec) -> None:
    _expect(spec.name, str, "name")
    _expect(spec.freq, str, "freq")
    _expect(spec.timestamp, str, "timestamp")
    _expect(spec.allow_outside, bool, "allow_outside")
    freq_to_ns(spec.freq)
    for key in ("context_length", "horizon"):
        value = getattr(spec, key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise SpecError(f"{key} must be a whole number of steps, got {value!r} ({type(value).__name__}).")
        if value <= 0:
            raise SpecError(f"{key} must be at least 1 step, got {value}.")
    if spec.data is not None and spec.source is not None:
        raise SpecError("give either 'data' (a file) or 'source' (a named loader), not both.")
    if spec.data is not None:
        _expect(spec.data, str, "data")
    if spec.source is not None and not (isinstance(spec.source, dict) and "loader" in spec.source):
        raise SpecError(f"source must be a mapping with a 'loader' key, e.g. {{loader: nab, ...}}; got {spec.source!r}.")
    if spec.format is None:
        spec.format = "long" if spec.series_id else "wide"
    if spec.format not in FORMATS:
        raise SpecError(f"format must be one of {FORMATS}, got {spec.format!r}.{did_you_mean(str(spec.format), FORMATS)}")
    if spec.format == "long" and not spec.series_id:
        raise SpecError("format: long needs 'series_id' (the column naming each series); use format: wide for one series.")
    if spec.format == "wide" and spec.series_id:
        raise SpecError(f"format: wide takes no series_id (got {spec.series_id!r}); set format: long to use it.")
    for role in ROLES:
        setattr(spec, role, _column_list(role, getattr(spec, role)))
    if not spec.target:
        raise SpecError("target must name at least one column.")
    spec.calendar = _check_calendar(spec)
    _check_roles_disjoint(spec)
    spec.split = _check_split(spec.split)
    spec.intervention_bounds = _check_bounds(spec)
    if spec.control_timing not in CONTROL_TIMINGS:
        raise SpecError(
            f"control_timing must be one of {CONTROL_TIMINGS}, got {spec.control_timing!r}: 'same' when a control "
            "logged on a row already acts on that row's measurement (it was set after the previous row was "
            "measured), 'next' when it acts from the next row on (it was set after this row was measured)."
            f"{did_you_mean(str(spec.control_timing), CONTROL_TIMINGS)}")
    spec.transforms = _check_transforms(spec)


def _check_roles_disjoint(spec: TaskSpec) -> None:
    seen: dict[str, str] = {spec.timestamp: "timestamp"}
    if spec.series_id:
        seen[spec.series_id] = "series_id"
    for role in ROLES:
        for column in getattr(spec, role):
            if column in seen:
                raise SpecError(
                    f"column {column!r} is listed as both {seen[column]} and {role}; a column plays one "
                    "role. Remove it from one of them (use a copy of the column if you really need both)."
                )
            seen[column] = role


def _check_calendar(spec: TaskSpec) -> list[str]:
    names = spec.calendar
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SpecError(f"calendar must be a list of feature names from {sorted(CALENDAR)}, got {names!r}.")
    for name in names:
        if name not in CALENDAR:
            raise SpecError(f"unknown calendar feature {name!r}.{did_you_mean(name, list(CALENDAR))} "
                            f"Choose from {', '.join(f'{k} ({v[0]})' for k, v in CALENDAR.items())}.")
    if len(set(names)) != len(names):
        raise SpecError(f"calendar lists a feature twice: {names}.")
    if names and spec.is_step_index:
        raise SpecError(f"calendar features need real timestamps, but freq is {STEP_FREQ!r} (an integer index). "
                        "Give the data datetimes and a freq such as '1h', or drop 'calendar'.")
    return list(names)


def _check_split(split: Any) -> dict[str, list]:
    if not isinstance(split, dict) or len(split) != 1 or next(iter(split)) not in ("fractions", "boundaries"):
        raise SpecError(
            f"split must be {{fractions: [train, val, test]}} or {{boundaries: [train_end, val_end, test_end]}}, got {split!r}."
        )
    kind, values = next(iter(split.items()))
    if not isinstance(values, (list, tuple)) or len(values) != 3:
        raise SpecError(f"split.{kind} needs exactly 3 numbers (train, val, test), got {values!r}.")
    if kind == "fractions":
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in values):
            raise SpecError(f"split.fractions must be 3 non-negative numbers, got {values!r}.")
        if abs(sum(values) - 1.0) > 1e-6:
            raise SpecError(f"split.fractions must sum to 1, got {values!r} (sum {sum(values):g}).")
        if values[0] <= 0:
            raise SpecError("split.fractions: the train fraction must be above 0.")
        return {kind: [float(v) for v in values]}
    else:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise SpecError(f"split.boundaries must be 3 whole row indices, got {values!r}.")
        if not 0 < values[0] < values[1] < values[2]:
            raise SpecError(
                f"split.boundaries must increase: 0 < train_end < val_end < test_end, got {values!r}."
            )
        return {kind: list(values)}


def _check_bounds(spec: TaskSpec) -> dict[str, list[float]]:
    if not isinstance(spec.intervention_bounds, dict):
        raise SpecError(f"intervention_bounds must map intervention columns to [low, high], got {spec.intervention_bounds!r}.")
    out = {}
    for column, bounds in spec.intervention_bounds.items():
        if column not in spec.intervention:
            raise SpecError(
                f"intervention_bounds names {column!r}, which is not an intervention column."
                f"{did_you_mean(str(column), spec.intervention)} Intervention columns: {spec.intervention}."
            )
        ok = isinstance(bounds, (list, tuple)) and len(bounds) == 2
        ok = ok and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
        if not ok or bounds[0] > bounds[1]:
            raise SpecError(f"intervention_bounds.{column} must be [low, high] with low <= high, got {bounds!r}.")
        out[column] = [float(bounds[0]), float(bounds[1])]
    return out


def _check_transforms(spec: TaskSpec) -> dict[str, str]:
    if not isinstance(spec.transforms, dict):
        raise SpecError(
            f"transforms must map columns to transform names, e.g. {{latency_p95: log1p}}; got {spec.transforms!r}."
        )
    valid = ", ".join(f"{name} ({accepts})" for name, accepts in TRANSFORMS.items())
    scaled = [column for role in TRANSFORM_ROLES for column in getattr(spec, role)]
    role_of = {column: role for role in ROLES for column in getattr(spec, role)}
    out = {}
    for column, name in spec.transforms.items():
        if not isinstance(column, str) or not isinstance(name, str):
            raise SpecError(
                f"transforms: give column: name pairs of strings, got {column!r}: {name!r}. Quote them in YAML."
            )
        if name not in TRANSFORMS:
            raise SpecError(
                f"transforms.{column}: unknown transform {name!r}.{did_you_mean(name, list(TRANSFORMS))} "
                f"Valid transforms: {valid}."
            )
        if column in role_of and column not in scaled:
            raise SpecError(
                f"transforms.{column}: {column!r} is {'an' if role_of[column] == 'event' else 'a'} "
                f"{role_of[column]} column, which takes no transform "
                f"(events stay 0/1, statics are scaled across series). Only {', '.join(TRANSFORM_ROLES)} "
                f"columns do; remove {column!r} from transforms."
            )
        if column not in scaled:
            raise SpecError(
                f"transforms names {column!r}, which is in no role of the task.{did_you_mean(column, scaled)} "
                f"Columns that take a transform ({', '.join(TRANSFORM_ROLES)}): {scaled}."
            )
        out[column] = name
    return out


def _expect(value: Any, kind: type, key: str) -> None:
    if not isinstance(value, kind):
        raise SpecError(f"{key} must be a {kind.__name__}, got {value!r} ({type(value).__name__}).")


def _column_list(role: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise SpecError(f"{role} must be a list of column names, got {value!r} ({type(value).__name__}).")
    for item in value:
        if not isinstance(item, str):
            raise SpecError(
                f"{role}: column names are strings, got {item!r} ({type(item).__name__}). "
                f"Quote it in YAML: '{item}'."
            )
    if len(set(value)) != len(value):
        raise SpecError(f"{role} lists a column twice: {value!r}.")
    return list(value)


def _split_flag(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    return list(value)


def _transform_flag(value: str | dict[str, str] | None) -> dict[str, str]:
    """'a=log1p,b=asinh' -> {'a': 'log1p', 'b': 'asinh'} (column names kept exact)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    out = {}
    for part in (p for p in value.split(",") if p.strip()):
        column, sep, name = part.rpartition("=")
        if not sep or not column.strip() or not name.strip():
            raise SpecError(
                f"--transforms takes COLUMN=NAME pairs separated by commas, e.g. "
                f"latency_p95=log1p,queue_depth=log1p; got {value!r} (the part {part!r})."
            )
        if column in out:
            raise SpecError(f"--transforms names {column!r} twice ({value!r}); give each column one transform.")
        out[column] = name.strip()
    return out


def _numbers(flag: str, value: str | list, kind: type) -> list:
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        return [kind(p) for p in parts]
    except ValueError:
        raise SpecError(f"{flag} takes 3 comma-separated numbers, e.g. 0.7,0.1,0.2; got {value!r}.") from None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
