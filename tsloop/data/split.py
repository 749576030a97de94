"""Time-ordered train/val/test parts of each series, with the published row arithmetic.

``fractions`` follows TSLib's ``Dataset_Custom`` exactly (used by TimeXer on EPF)::

    num_train = int(n * f_train); num_test = int(n * f_test); num_vali = n - num_train - num_test
    border1s = [0, num_train - L, n - num_test - L]
    border2s = [num_train, num_train + num_vali, n]

``boundaries`` [b1, b2, b3] follows ``Dataset_ETT_hour``: train [0, b1), val [b1 - L, b2),
test [b2 - L, b3); rows from b3 on are unused. Val and test start L rows early so their first
window's forecast starts at the part's first own row. A window starting at row s reads rows
[s, s + L + H); a part [border1, border2) has border2 - border1 - L - H + 1 windows (stride 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsloop.data.spec import TaskSpec
from tsloop.errors import DataError

PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class Part:
    """Rows of one part of one series: windows read [start, end); the part's own rows are [own_start, end)."""

    start: int  # border1: includes the context borrowed from the previous part
    own_start: int
    end: int  # border2, exclusive

    @property
    def rows(self) -> int:
        """Rows that belong to this part (borrowed context excluded): the published split sizes."""
        return self.end - self.own_start


def part_bounds(n: int, spec: TaskSpec, series_id: str = "") -> dict[str, Part]:
    """The three parts of a series of ``n`` rows under the spec's split."""
    L = spec.context_length
    kind, values = next(iter(spec.split.items()))
    if kind == "fractions":
        num_train = int(n * values[0])
        num_test = int(n * values[2])
        num_vali = n - num_train - num_test
        own = [0, num_train, n - num_test]
        ends = [num_train, num_train + num_vali, n]
    else:
        if n < values[2]:
            label = f"series {series_id!r}" if series_id else "a series"
            raise DataError(
                f"{label} has {n} rows, but split.boundaries {values} needs at least {values[2]} "
                "(its test part ends there). Use boundaries that fit, or split by fractions instead."
            )
        own = [0, values[0], values[1]]
        ends = list(values)
    starts = [0, max(0, own[1] - L), max(0, own[2] - L)]
    return {part: Part(starts[i], own[i], ends[i]) for i, part in enumerate(PARTS)}


def train_end(n: int, spec: TaskSpec) -> int:
    """End row (exclusive) of the train part: the scaler is fitted on rows [0, train_end)."""
    return part_bounds(n, spec)["train"].end


def window_starts(part: Part, spec: TaskSpec, stride: int = 1) -> np.ndarray:
    """First rows of the windows of a part, every ``stride`` rows."""
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    last = part.end - spec.context_length - spec.horizon  # inclusive
    return np.arange(part.start, last + 1, stride, dtype=np.int64)


def split_sizes(lengths: list[int], spec: TaskSpec, stride: int = 1) -> dict[str, dict[str, int]]:
    """Rows (own) and windows per part, summed over series."""
    sizes = {part: {"rows": 0, "windows": 0} for part in PARTS}
    for n in lengths:
        for name, part in part_bounds(n, spec).items():
            sizes[name]["rows"] += part.rows
            sizes[name]["windows"] += len(window_starts(part, spec, stride))
    return sizes


def empty_part_warnings(spec: TaskSpec, lengths: list[int]) -> list[str]:
    """A warning per part that yields no window in any series (too short for L + H)."""
    sizes = split_sizes(lengths, spec)
    return [
        f"the {name} part has no window of context_length + horizon = "
        f"{spec.context_length + spec.horizon} rows ({sizes[name]['rows']} own rows); "
        "change the split or shorten the windows."
        for name in PARTS
        if sizes[name]["windows"] == 0
    ]
