"""The zero-shot suite: the same histories for every model, channel-independent, rolled horizons."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines.bench import zero_shot
from pipelines.bench.data import starts
from tsloop.data.task import load_task
from tsloop.forecaster import Forecaster


@pytest.fixture(scope="module")
def etth1():
    return load_task("tasks/etth1_M.yaml")


def test_histories_are_the_rows_before_each_origin_per_channel_with_missing_rows_masked(etth1):
    values = etth1.scaled[0].values["target"]
    hist, mask, truth = zero_shot.histories(etth1, stride=500, length=20000)  # longer than the series
    origins = starts(etth1, "test")[::500] + etth1.spec.context_length
    n, h, c = truth.shape
    assert (n, h, c) == (len(origins), 96, 7) and hist.shape == (n * c, 20000)
    row = 2 * c + 3  # window 2, channel 3
    o = origins[2]
    np.testing.assert_allclose(hist[row, -o:], values[:o, 3])
    assert mask[row, -o:].all() and not mask[row, :-o].any() and not hist[row, :-o].any()
    np.testing.assert_allclose(truth[2, :, 3], values[o:o + 96, 3])


def test_naive_repeats_the_last_season():
    hist = np.arange(10.0)[None]
    np.testing.assert_array_equal(zero_shot.run_naive(hist, season=4, horizon=6), [[6, 7, 8, 9, 6, 7]])


def test_the_pretrained_model_rolls_past_its_horizon_and_its_first_pass_is_one_forward(pretrained):
    model = Forecaster.pretrained(pretrained.model).model.eval()
    rng = np.random.default_rng(0)
    hist, mask = rng.normal(size=(3, 50)), np.ones((3, 50))
    mask[0, :30] = 0  # a short history
    q = zero_shot.run_tsloop(model, hist * mask, mask, horizon=20)  # the model's horizon is 8
    assert q.shape == (3, 20, 9) and np.isfinite(q).all() and (np.diff(q, axis=-1) >= 0).all()
    one = zero_shot.run_tsloop(model, hist * mask, mask, horizon=8)
    np.testing.assert_allclose(q[:, :8], one, atol=1e-6)


def test_the_command_scores_every_peer_on_every_task_and_writes_the_json(pretrained, tmp_path):
    argv = ["--model", str(pretrained.model), "--tasks", "epf_np", "--peers", "tsloop,naive", "--stride", "1000",
            "--results", str(tmp_path)]
    assert zero_shot.main(argv) == 0
    out = json.loads((tmp_path / "zero_shot.json").read_text())
    rows = out["tasks"]["epf_np"]["rows"]
    assert set(rows) == {"tsloop", "naive"} and out["tasks"]["epf_np"]["windows"] == 11
    assert {"mse", "mae", "crps", "cover80"} <= set(rows["tsloop"]) and rows["naive"]["mse"] > 0


def test_the_report_has_a_row_per_task_with_ratios_to_each_peer():
    row = {"mse": 0.5, "mae": 0.4, "crps": 0.3}
    out = {"command": "c", "stride": 24, "history": 512, "pretrained": {"compute": {"steps": 7, "wall_time_s": 1.0,
                                                                                    "device": "cpu"}},
           "tasks": {"a": {"windows": 3, "channels": 1, "horizon": 4,
                           "rows": {"tsloop": row, "naive": {"mse": 1.0, "mae": 0.8}, "fracast": {**row, "mse": 0.25}}},
                     "b": {"windows": 2, "channels": 7, "horizon": 96, "rows": {"tsloop": row, "naive": {"mse": 2.0}}}}}
    text = zero_shot.report(out)
    assert "7 optimizer steps" in text
    assert "| a | 3 × 1 | 4 | 0.500 / 0.400 / 0.300 | 1.000 / 0.800 | 0.250 / 0.400 / 0.300 | 0.50 | 2.00 |" in text
    assert "| b | 2 × 7 | 96 |" in text and text.rstrip().endswith("| 0.25 | – |")
