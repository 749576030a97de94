"""How every command names its task (tsloop/cli/taskargs.py): a task file, or a data file with role flags."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsloop.cli.taskargs import add_task_arguments, spec_from_args, task_from_args
from tsloop.errors import SpecError

TASKS = Path(__file__).resolve().parents[2] / "tasks"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_task_arguments(parser)
    return parser.parse_args(argv)


def test_when_a_task_file_is_given_then_its_spec_is_read_and_only_the_window_flags_override_it():
    plain = spec_from_args(_args("--task", str(TASKS / "plant_whatif.yaml")))
    changed = spec_from_args(_args("--task", str(TASKS / "plant_whatif.yaml"), "--horizon", "12"))
    assert plain.name == "plant_whatif" and "replicas" in plain.intervention
    assert changed.horizon == 12 and changed.context_length == plain.context_length != 12
    assert changed.target == plain.target


def test_when_a_data_file_is_given_then_the_role_flags_make_the_spec():
    args = _args("--data", "fleet.csv", "--target", "cpu,latency", "--intervention", "replicas", "--freq", "5min",
                 "--context", "48", "--horizon", "12", "--series-id", "host", "--fractions", "0.6,0.2,0.2")
    spec = spec_from_args(args)
    assert spec.target == ["cpu", "latency"] and spec.intervention == ["replicas"] and spec.series_id == "host"
    assert (spec.freq, spec.context_length, spec.horizon) == ("5min", 48, 12)
    assert spec.split == {"fractions": [0.6, 0.2, 0.2]}


@pytest.mark.parametrize("argv, message", [
    (("--task", "a.yaml", "--data", "b.csv"), "either --task or --data, not both"),
    ((), "name the data: --task"),
    (("--data", "b.csv", "--target", "y", "--context", "8"), "--data needs --freq, --horizon as well"),
])
def test_when_the_flags_do_not_name_one_task_then_the_error_says_what_to_give(argv, message):
    with pytest.raises(SpecError, match=message):
        spec_from_args(_args(*argv))


def test_when_the_task_is_loaded_from_flags_then_it_is_split_into_windows(tmp_path):
    n = 200
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="1h"),
                          "y": np.sin(np.arange(n) / 5.0)})
    frame.to_csv(tmp_path / "y.csv", index=False)
    task = task_from_args(_args("--data", str(tmp_path / "y.csv"), "--target", "y", "--freq", "1h",
                                "--context", "24", "--horizon", "6"))
    assert task.spec.dims.target == 1 and len(task.series) == 1
    parts = task.parts(0)
    assert parts["train"].start == 0 and parts["test"].end == n
