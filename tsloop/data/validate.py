"""Check telemetry against its task spec, with messages that say where and how to fix.

:func:`validate` checks a whole data set (history for training); :func:`validate_future`
checks a forecast or what-if request: recent history plus the frame of known-future and
intervention values over the next ``horizon`` steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tsloop.data import split as splits
from tsloop.data.calendar import calendar_values
from tsloop.data.leakage import find_leaks
from tsloop.data.readers import Frame, SeriesData, Table, load_table, split_series
from tsloop.data.spec import ROLES, TaskSpec
from tsloop.errors import DataError, PlanError

FUTURE_ROLES = ("known_future", "intervention")  # must be known at every step, history and horizon
SCALED_ROLES = ("target", "past_exog", "known_future", "intervention")
SHOW = 5  # offending rows or timestamps shown per message
MAX_ABS = 1e15  # larger raw values (without a compressing transform) are rejected: sentinels or unit slips


@dataclass
class ValidationReport:
    """What was checked: sizes, columns per role, and warnings that did not stop the load."""

    rows: int
    series: int
    roles: dict[str, list[str]]
    start: str  # earliest timestamp
    end: str  # latest timestamp
    missing_target: int = 0  # NaN/inf target values (masked in training)
    warnings: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)


@dataclass
class FutureSeries:
    """One series of a forecast request: its history and the values given over the horizon."""

    history: SeriesData
    future_time: np.ndarray  # (H,) int64
    future: dict[str, np.ndarray]  # role (known_future, intervention) -> (H, C) float64


def validate(spec: TaskSpec, frame: Frame | None = None) -> ValidationReport:
    """Validate ``frame`` (or the spec's data) against ``spec``; raise DataError on the first problem."""
    table = load_table(spec, frame)
    return check_table(spec, table, split_series(spec, table))


def check_table(spec: TaskSpec, table: Table, series: list[SeriesData]) -> ValidationReport:
    """All checks on a read table; returns the report (warnings included) or raises DataError."""
    for item in series:
        check_time(spec, table, item)
    need = spec.context_length + spec.horizon
    for item in series:
        if len(item) < need:
            raise DataError(
                f"{_series(spec, item)} has {len(item)} rows, but one window needs context_length + "
                f"horizon = {spec.context_length} + {spec.horizon} = {need}. Lower context_length or "
                "horizon, or drop that series."
            )
        splits.part_bounds(len(item), spec, item.series_id)
    missing_target = sum(int((~np.isfinite(item.values["target"])).sum()) for item in series)
    report = ValidationReport(
        rows=table.rows,
        series=len(series),
        roles=spec.roles,
        start=table.when(table.time.min()),
        end=table.when(table.time.max()),
        missing_target=missing_target,
    )
    if missing_target:
        total = sum(item.values["target"].size for item in series)
        report.info.append(
            f"{missing_target} of {total} target values are missing (NaN/inf); they are masked out of the loss."
        )
    for item in series:
        check_values(spec, table, item, report)
    check_observed(spec, series)
    report.warnings += constant_warnings(spec, series)
    report.warnings += find_leaks(spec, series[0])
    report.warnings += splits.empty_part_warnings(spec, [len(item) for item in series])
    return report


def check_time(spec: TaskSpec, table: Table, item: SeriesData) -> None:
    """Timestamps of one series: increasing, no duplicates, spaced by exactly one ``freq`` step."""
    time, rows = item.time, item.rows
    step = np.diff(time)
    if (step < 0).any():
        i = int(np.argmax(step < 0))
        duplicated = len(time) - len(np.unique(time))
        extra = f" The series also has {duplicated} duplicated timestamp(s)." if duplicated else ""
        raise DataError(
            f"timestamps of {_series(spec, item)} are not in increasing order: {table.row(rows[i + 1])} "
            f"({table.when(time[i + 1])}) comes after {table.row(rows[i])} ({table.when(time[i])}).{extra} "
            f"Sort the rows by {_sort_keys(spec)} (and keep one row per timestamp)."
        )
    if (step == 0).any():
        where = np.flatnonzero(step == 0)
        shown = "; ".join(f"{table.when(time[i])} on {table.row(rows[i])} and {rows[i + 1]}" for i in where[:SHOW])
        raise DataError(
            f"{_series(spec, item)} has {len(where)} duplicated timestamp(s): {shown}. Keep one row per timestamp "
            "(e.g. average the duplicates) or, for several series in one file, set format: long and series_id."
        )
    expected = spec.step_ns
    gaps = np.flatnonzero(step != expected)
    if len(gaps):
        unit = lambda d: _duration(d, spec)  # noqa: E731
        shown = "; ".join(
            f"after {table.when(time[i])} ({table.row(rows[i])}) comes {table.when(time[i + 1])} "
            f"(step {unit(step[i])})"
            for i in gaps[:SHOW]
        )
        values, counts = np.unique(step, return_counts=True)
        common = values[np.argmax(counts)]
        hint = f" Most steps in this series are {unit(common)}: is freq {spec.freq!r} right?" if common != expected else ""
        raise DataError(
            f"{_series(spec, item)} is not evenly spaced at freq {spec.freq!r} (expected every step to be "
            f"{unit(expected)}); {len(gaps)} irregular step(s), the first: {shown}.{hint} Resample to a "
            f"regular {spec.freq} grid first (leave target values of inserted rows empty; they are masked)."
        )


def check_values(
    spec: TaskSpec, table: Table, item: SeriesData, report: ValidationReport, known_only: bool = False
) -> None:
    """Role rules for one series: known inputs complete, events binary, statics constant.

    ``known_only`` checks the known-future and intervention columns alone (a future frame).
    """
    if not known_only:
        check_magnitudes(spec, table, item)
    problems = []
    for role in FUTURE_ROLES:
        for j, column in enumerate(spec.columns(role)):
            bad = ~np.isfinite(item.values[role][:, j])
            if bad.any():
                problems.append(f"  - {column!r} ({role}): {_missing_times(table, item.time[bad], spec.step_ns)}")
    if problems:
        raise DataError(
            f"{_series(spec, item)} has missing (NaN/inf/empty) values in columns that must be known at "
            "every step:\n" + "\n".join(problems) + "\nKnown-future and intervention inputs feed every "
            "window, in the history and over the horizon, so they cannot be masked like targets. Fill them "
            "(interpolate a forecast, forward-fill a control that holds its setting), drop those rows at the "
            "start or end of the series, or, if the column is not really known in advance, move it to past_exog."
        )
    if known_only:
        return
    for j, column in enumerate(spec.past_exog):
        count = int((~np.isfinite(item.values["past_exog"][:, j])).sum())
        if count:
            report.warnings.append(
                f"past_exog {column!r} has {count} missing value(s) in {_series(spec, item)}; they are "
                "filled with the train mean (0 after scaling), as the batch has no mask for past-only inputs."
            )
    for j, column in enumerate(spec.event):
        values = item.values["event"][:, j]
        bad = np.flatnonzero(~np.isin(values, (0.0, 1.0)))
        if len(bad):
            shown = "; ".join(f"{table.row(item.rows[i])}, {table.when(item.time[i])}: {values[i]:g}" for i in bad[:SHOW])
            raise DataError(
                f"event column {column!r} must hold only 0 and 1, but {_series(spec, item)} has "
                f"{len(bad)} other value(s): {shown}. Mark an event with 1 and its absence with 0 "
                "(fill empty cells with 0); for a numeric signal use the past_exog role instead."
            )
    for j, column in enumerate(spec.static):
        values = item.values["static"][:, j]
        bad = np.flatnonzero(~np.isfinite(values) | (values != values[0]))
        if len(bad):
            i = int(bad[0])
            raise DataError(
                f"static column {column!r} must be one constant value per series, but "
                f"{_series(spec, item)} has {values[0]:g} on {table.row(item.rows[0])} and {values[i]:g} on "
                f"{table.row(item.rows[i])} ({table.when(item.time[i])}). Fix the value, or use the past_exog "
                "or known_future role for a value that changes over time."
            )


def check_magnitudes(spec: TaskSpec, table: Table, item: SeriesData) -> None:
    """Infinite values, and values too large to standardise, are errors (NaN or empty means missing)."""
    transforms = getattr(spec, "transforms", None) or {}
    for role in ROLES:
        for j, column in enumerate(spec.columns(role)):
            values = item.values[role][:, j]
            limit = np.inf if transforms.get(column, "identity") != "identity" else MAX_ABS
            bad = np.flatnonzero(np.isinf(values) | (np.abs(np.nan_to_num(values)) > limit))
            if not len(bad):
                continue
            shown = "; ".join(f"{table.row(item.rows[i])}, {table.when(item.time[i])}: {values[i]:g}" for i in bad[:SHOW])
            if np.isinf(values[bad]).any():
                what = "infinite value(s)"
                fix = ("An infinite value is usually an overflow or a division by zero upstream; leave the cell "
                       "empty (or NaN) where the value is unknown")
            else:
                what = f"value(s) beyond +/-{MAX_ABS:g}, too large to standardise"
                fix = ("Such values are usually sentinels (e.g. 9.99e37) or a unit slip; leave those cells empty, "
                       "rescale the column (e.g. bytes to GB), or give it a compressing transform "
                       f"(transforms: {{{column}: asinh}})")
            raise DataError(
                f"{role} column {column!r} of {_series(spec, item)} has {len(bad)} {what}: {shown}. {fix}."
            )


def check_observed(spec: TaskSpec, series: list[SeriesData]) -> None:
    """A target must be observed at least once in every series; a past-only input in some series."""
    for j, column in enumerate(spec.target):
        for item in series:
            if not np.isfinite(item.values["target"][:, j]).any():
                raise DataError(
                    f"target column {column!r} has no observed value in {_series(spec, item)}: all {len(item)} "
                    "rows are NaN or empty, so there is nothing to learn or to scale it by. Fill the column, "
                    + ("drop that series, " if spec.series_id else "")
                    + "or remove the column from target."
                )
    for j, column in enumerate(spec.past_exog):
        if not any(np.isfinite(item.values["past_exog"][:, j]).any() for item in series):
            raise DataError(
                f"past_exog column {column!r} has no observed value in any series (every row is NaN or empty). "
                "Fill it or remove it from past_exog."
            )


def constant_warnings(spec: TaskSpec, series: list[SeriesData]) -> list[str]:
    """A warning for each scaled channel that never varies (within every series): it carries no signal."""
    out = []
    for role in SCALED_ROLES:
        for j, column in enumerate(spec.columns(role)):
            if all(_is_constant(item.values[role][:, j]) for item in series):
                out.append(
                    f"{role} {column!r} is constant (or all missing) within every series; it carries no "
                    "information. Consider dropping it."
                )
    return out


def validate_future(
    spec: TaskSpec, history: Frame, future: Frame | None = None
) -> list[FutureSeries]:
    """Check a forecast request: the history of each series, then the future frame of known inputs.

    The future frame must hold, for each series it names, exactly the ``horizon`` timestamps that
    follow that series' last history time, with every known-future and intervention column filled
    and interventions inside ``intervention_bounds``. It may be omitted when the task has neither.
    """
    table = load_table(spec, history)
    by_id = {}
    for item in split_series(spec, table):
        check_time(spec, table, item)
        if len(item) < spec.context_length:
            raise DataError(
                f"history of {_series(spec, item)} has {len(item)} rows; a forecast needs the last "
                f"context_length = {spec.context_length}. Pass a longer history."
            )
        recent = item.tail(spec.context_length)
        check_values(spec, table, recent, ValidationReport(0, 0, {}, "", ""))
        by_id[item.series_id] = item
    needs_future = bool(spec.known_future or spec.intervention)
    if future is None:
        if needs_future:
            raise DataError(
                f"task {spec.name!r} has known-future/intervention columns "
                f"{spec.known_future + spec.intervention}; pass a future frame with their values for the "
                f"next {spec.horizon} steps of each series."
            )
        return [_clock_only_future(spec, item) for item in by_id.values()]
    ftable = load_table(spec, future, roles=FUTURE_ROLES)
    out = []
    for item in split_series(spec, ftable):
        if item.series_id not in by_id:
            raise DataError(
                f"the future frame names {_series(spec, item)}, which is not in the history "
                f"(history has {sorted(by_id)[:10]}). Give its history too, or fix the series id."
            )
        past = by_id[item.series_id]
        _check_future_times(spec, ftable, item, _next_times(spec, past), past)
        order = np.argsort(item.time, kind="stable")
        item = SeriesData(item.series_id, item.time[order], {r: v[order] for r, v in item.values.items()}, item.rows[order])
        check_values(spec, ftable, item, ValidationReport(0, 0, {}, "", ""), known_only=True)
        _check_bounds(spec, ftable, item)
        out.append(FutureSeries(past, item.time, {r: item.values[r] for r in FUTURE_ROLES}))
    return out


# -- helpers ---------------------------------------------------------------------------------


def _check_future_times(spec: TaskSpec, table: Table, item: SeriesData, expected: np.ndarray, past: SeriesData) -> None:
    got = item.time
    missing = np.setdiff1d(expected, got)
    unexpected = np.setdiff1d(got, expected)
    duplicated = len(got) - len(np.unique(got))
    if len(missing) or len(unexpected) or duplicated:
        parts = []
        if len(missing):
            parts.append(f"missing {_missing_times(table, missing, spec.step_ns)}")
        if len(unexpected):
            parts.append(f"unexpected {_missing_times(table, unexpected, spec.step_ns)}")
        if duplicated:
            parts.append(f"{duplicated} duplicated timestamp(s)")
        raise DataError(
            f"the future frame for {_series(spec, item)} must cover exactly the {spec.horizon} "
            f"timestamps after the history's last one ({table.when(past.time[-1])}), i.e. "
            f"{table.when(expected[0])} ... {table.when(expected[-1])} every {spec.freq}; it has "
            + "; ".join(parts)
            + ". Give one row per future timestamp with every known-future and intervention column."
        )


def _check_bounds(spec: TaskSpec, table: Table, item: SeriesData) -> None:
    for j, column in enumerate(spec.intervention):
        if column not in spec.intervention_bounds:
            continue
        low, high = spec.intervention_bounds[column]
        values = item.values["intervention"][:, j]
        bad = np.flatnonzero((values < low) | (values > high))
        if len(bad):
            shown = "; ".join(f"{table.when(item.time[i])}: {values[i]:g}" for i in bad[:SHOW])
            raise PlanError(
                f"intervention {column!r} of {_series(spec, item)} leaves its bounds at {len(bad)} step(s): "
                f"{shown}; allowed [{low:g}, {high:g}]. Keep the plan within the bounds "
                "(intervention_bounds in the task file)."
            )


def _clock_only_future(spec: TaskSpec, item: SeriesData) -> FutureSeries:
    """The future of a task whose only future inputs are calendar features: computed, not given."""
    times = _next_times(spec, item)
    clock = calendar_values(spec.calendar, times)
    known = np.stack(list(clock.values()), axis=1) if clock else np.zeros((spec.horizon, 0))  # in column order
    return FutureSeries(item, times, {"known_future": known, "intervention": np.zeros((spec.horizon, 0))})


def _next_times(spec: TaskSpec, item: SeriesData) -> np.ndarray:
    return item.time[-1] + spec.step_ns * np.arange(1, spec.horizon + 1, dtype=np.int64)


def _missing_times(table: Table, times: np.ndarray, step: int) -> str:
    """'5 timestamp(s): A ... B (3 steps), C': consecutive runs collapsed, the first few shown."""
    times = np.unique(times)
    runs = np.split(times, np.flatnonzero(np.diff(times) != step) + 1)
    shown = ", ".join(
        table.when(r[0]) if len(r) == 1 else f"{table.when(r[0])} ... {table.when(r[-1])} ({len(r)} steps)"
        for r in runs[:SHOW]
    )
    more = f", and {len(runs) - SHOW} more run(s)" if len(runs) > SHOW else ""
    return f"{len(times)} timestamp(s): {shown}{more}"


def _is_constant(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return len(finite) == 0 or bool(np.all(finite == finite[0]))


def _duration(ns: int | np.integer, spec: TaskSpec) -> str:
    if spec.is_step_index:
        return f"{int(ns)} step(s)"
    text = str(pd.Timedelta(int(ns)))
    return text.removeprefix("0 days ")


def _series(spec: TaskSpec, item: SeriesData) -> str:
    """How messages name a series: by id in long format, 'the series' in wide."""
    return f"series {item.series_id!r}" if spec.series_id else "the series"


def _sort_keys(spec: TaskSpec) -> str:
    return f"{spec.series_id!r} then {spec.timestamp!r}" if spec.series_id else repr(spec.timestamp)

