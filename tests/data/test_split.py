"""Splits: the published row arithmetic of TSLib (fractions) and Informer (boundaries)."""

from __future__ import annotations

import pytest

from tsloop.data.spec import TaskSpec
from tsloop.data.split import part_bounds, split_sizes, train_end, window_starts


def spec(split, context=168, horizon=24) -> TaskSpec:
    return TaskSpec(target=["y"], freq="1h", context_length=context, horizon=horizon, split=split)


def test_when_epf_np_is_split_then_the_timexer_row_counts_hold(epf_np_task):
    sizes = epf_np_task.sizes()
    assert [sizes[p]["rows"] for p in ("train", "val", "test")] == [36691, 5242, 10483]
    parts = epf_np_task.parts(0)
    assert (parts["val"].start, parts["val"].end) == (36691 - 168, 36691 + 5242)
    assert (parts["test"].start, parts["test"].end) == (52416 - 10483 - 168, 52416)
    assert sizes["train"]["windows"] == 36691 - 168 - 24 + 1


@pytest.mark.parametrize("n", [100, 999, 52416, 17420])
def test_when_split_by_fractions_then_borders_follow_dataset_custom(n):
    s = spec({"fractions": [0.7, 0.1, 0.2]}, context=10, horizon=5)
    num_train, num_test = int(n * 0.7), int(n * 0.2)
    num_vali = n - num_train - num_test
    parts = part_bounds(n, s)
    assert [parts[p].start for p in ("train", "val", "test")] == [0, num_train - 10, n - num_test - 10]
    assert [parts[p].end for p in ("train", "val", "test")] == [num_train, num_train + num_vali, n]
    assert train_end(n, s) == num_train


def test_when_etth1_is_split_by_boundaries_then_the_informer_rows_hold(root, tasks_dir):
    from tsloop.data.task import load_task

    task = load_task(tasks_dir / "etth1_MS.yaml")
    parts = task.parts(0)
    assert [(parts[p].start, parts[p].end) for p in ("train", "val", "test")] == [
        (0, 8640), (8640 - 96, 11520), (11520 - 96, 14400)]
    assert task.sizes()["test"] == {"rows": 2880, "windows": 2880 + 96 - 96 - 96 + 1}
    assert task.scaler.mean["target"].shape == (1, 1)


def test_when_a_window_is_the_last_of_a_part_then_it_ends_at_the_part_end():
    s = spec({"boundaries": [100, 150, 200]}, context=20, horizon=10)
    starts = window_starts(part_bounds(300, s)["val"], s)
    assert starts[0] == 80 and starts[-1] + 20 + 10 == 150
    assert list(window_starts(part_bounds(300, s)["val"], s, stride=7)) == list(range(80, 121, 7))
    assert split_sizes([300, 300], s)["test"] == {"rows": 100, "windows": 2 * 41}
