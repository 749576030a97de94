"""A task read lazily from its file (tsloop/data/stream_task.py): what it keeps equals the
in-memory task's, whatever the chunk size."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.data.conftest import _make_frame, _make_spec
from tsloop.data.spec import TaskSpec
from tsloop.data.stream_task import count_rows, load_stream_task
from tsloop.data.task import load_task
from tsloop.errors import DataError

SERIES, ROWS = 5, 150


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> TaskSpec:
    folder = tmp_path_factory.mktemp("stream_task")
    frame = _make_frame(n=ROWS, series=SERIES, known_future=1, event=1)
    frame.to_parquet(folder / "data.parquet", index=False)
    frame.to_csv(folder / "data.csv", index=False)
    path = replace(_make_spec(frame, context=24, horizon=6), data="data.parquet").to_yaml(folder / "t.task.yaml")
    return TaskSpec.from_yaml(path)


@pytest.fixture(scope="module")
def memory(spec):
    return load_task(spec)


def test_when_rows_are_counted_then_parquet_and_csv_give_the_file_length(spec):
    assert count_rows(spec) == SERIES * ROWS
    assert count_rows(replace(spec, data="data.csv")) == SERIES * ROWS


def test_when_the_file_cannot_be_read_then_counting_says_so(spec, tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="bad.parquet"):
        count_rows(replace(spec, data=str(tmp_path / "bad.parquet"), base_dir=tmp_path))


@pytest.mark.parametrize("chunk", [1, 2, 64])
def test_when_streamed_in_chunks_then_lengths_parts_and_fingerprint_equal_the_in_memory_task(spec, memory, chunk):
    stream = load_stream_task(spec, series_per_chunk=chunk)
    assert stream.series_ids == [s.series_id for s in memory.series]
    assert list(stream.lengths.values()) == [len(s.time) for s in memory.series]
    assert all(stream.parts(i) == memory.parts(i) for i in range(SERIES))
    assert stream.sizes(stride=4) == memory.sizes(stride=4)
    assert stream.fingerprint() == memory.fingerprint()
    assert stream.chunks() == [stream.series_ids[i:i + chunk] for i in range(0, SERIES, chunk)]


def test_when_a_series_is_asked_for_then_it_is_read_alone_and_equals_the_in_memory_one(spec, memory):
    stream = load_stream_task(spec, series_per_chunk=2)
    assert len(stream.series) == SERIES
    item, expected = stream.series[3], memory.series[3]
    assert item.series_id == expected.series_id and np.array_equal(item.time, expected.time)
    assert np.array_equal(item.values["target"], expected.values["target"], equal_nan=True)
    with pytest.raises(IndexError):
        stream.series[SERIES]


def test_when_a_streamed_task_is_described_then_it_reads_as_the_in_memory_one(spec, memory):
    assert load_stream_task(spec, series_per_chunk=2).describe() == memory.describe()


def test_when_the_train_part_holds_no_window_then_loading_refuses_with_the_window_length(spec):
    # each series holds a window (150 rows >= 106), its train part (the first 105 rows) does not
    with pytest.raises(DataError, match="train part holds no window of context_length \\+ horizon = 106 rows"):
        load_stream_task(replace(spec, context_length=100))
