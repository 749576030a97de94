"""The chunked path (tsloop.data.stream) agrees with load_task, with bounded reads per chunk."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsloop.data.stream import StreamWindows, validate_stream
from tsloop.data.task import load_task
from tsloop.errors import DataError


@pytest.fixture
def big(tmp_path, make_frame, make_spec):
    frame = make_frame(n=150, series=7, past_exog=1, known_future=1, intervention=1, event=1, static=1, targets=2)
    frame.loc[frame.sample(frac=0.05, random_state=0).index, "y0"] = np.nan
    frame.to_parquet(tmp_path / "big.parquet", index=False)
    spec = make_spec(frame, data=str(tmp_path / "big.parquet"), allow_outside=True)
    return tmp_path / "big.parquet", spec, frame


def test_when_streaming_then_report_scaler_and_windows_equal_the_in_memory_path(big):
    _, spec, _ = big
    task = load_task(spec)
    report, scaler, lengths = validate_stream(spec, series_per_chunk=3)
    assert (report.rows, report.series, report.missing_target) == (task.report.rows, task.report.series,
                                                                    task.report.missing_target)
    assert report.start == task.report.start and report.end == task.report.end
    assert lengths == {item.series_id: len(item) for item in task.series}
    assert scaler.series_ids == task.scaler.series_ids
    for role in task.scaler.mean:
        np.testing.assert_allclose(scaler.mean[role], task.scaler.mean[role])
        np.testing.assert_allclose(scaler.std[role], task.scaler.std[role])

    want = task.dataset("train", stride=5)
    got = list(StreamWindows(spec, scaler, part="train", stride=5, batch_size=16, series_per_chunk=3, shuffle=True))
    got = {k: torch.cat([b[k] for b in got]) for k in got[0]}
    order = np.lexsort((got["window_start"].numpy(), got["series_index"].numpy()))
    assert len(order) == len(want)
    for i, j in enumerate(order[:: max(1, len(order) // 40)]):  # a spread of windows, compared key by key
        ref = next(want[m] for m in range(len(want))
                   if int(want.index[m, 0]) == int(got["series_index"][j]) and int(want.index[m, 1]) == int(got["window_start"][j]))
        for key, value in ref.items():
            torch.testing.assert_close(got[key][j], value, msg=key)


def test_when_a_later_chunk_is_broken_then_the_error_names_its_series_and_timestamp(big, tmp_path):
    path, spec, frame = big
    bad = frame.copy()
    row = int(np.flatnonzero(bad["series"] == "s5")[10])
    bad.loc[row, "k0"] = np.nan
    bad.to_parquet(path, index=False)
    with pytest.raises(DataError, match=r"(?s)series .s5.*.k0.") as err:
        validate_stream(spec, series_per_chunk=2)
    assert str(bad.loc[row, "timestamp"]) in str(err.value)


def test_when_the_parquet_file_is_truncated_then_streaming_says_so(big):
    path, spec, _ = big
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match="truncated"):
        validate_stream(spec)
