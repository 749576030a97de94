"""Reading runs back from MLflow (tsloop/tracking/runs.py): comparison tables and model files."""

from __future__ import annotations

import pytest

from tsloop.errors import CheckpointError, TsloopError
from tsloop.tracking.record import log_result
from tsloop.tracking.runs import compare_runs, download_model

EXPERIMENT = "tests-runs"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished runs, the second with a model file; (older id, newer id, the model's bytes)."""
    model = tmp_path_factory.mktemp("runs") / "model.pt"
    model.write_bytes(b"weights")
    older = log_result(EXPERIMENT, "small", params={"depth": 2}, metrics={"mse": 0.5, "mae": 0.4},
                       tags={"suite": "a"})
    newer = log_result(EXPERIMENT, "large", params={"depth": 8}, metrics={"mse": 0.3, "crps": 0.2},
                       tags={"suite": "b"}, artifacts=[model], artifact_dir="model")
    return older, newer, model.read_bytes()


def test_when_runs_are_compared_then_the_newest_comes_first_with_every_metric(runs):
    older, newer, _ = runs
    table = compare_runs([EXPERIMENT])
    assert table["run_id"].tolist() == [newer, older]
    assert table["run_name"].tolist() == ["large", "small"] and set(table["status"]) == {"FINISHED"}
    assert {"mse", "mae", "crps"} <= set(table.columns)


def test_when_a_tag_and_columns_are_chosen_then_only_those_runs_and_columns_are_shown(runs):
    older, _, _ = runs
    table = compare_runs([EXPERIMENT], tags={"suite": "a"}, metrics=["mse"], params=["depth"])
    assert table.columns.tolist() == ["run_id", "run_name", "status", "start", "param:depth", "mse"]
    assert table.values[0].tolist()[:3] == [older, "small", "FINISHED"]
    assert table[["param:depth", "mse"]].values.tolist() == [["2", 0.5]]


def test_when_an_experiment_does_not_exist_then_the_error_lists_the_known_ones(runs):
    with pytest.raises(TsloopError, match=f"no MLflow experiment named \\['nope'\\].*'{EXPERIMENT}'"):
        compare_runs(["nope"])


def test_when_a_model_is_fetched_by_run_id_then_its_file_comes_back(runs):
    _, newer, weights = runs
    for ref in (newer, f"runs:/{newer}", f" {newer}/ "):
        with open(download_model(ref), "rb") as handle:
            assert handle.read() == weights


@pytest.mark.parametrize("ref, message", [
    ("model.ckpt", "neither a model file, a training output folder, nor an MLflow run id"),
    ("0" * 32, "could not fetch model/model.pt of run 0{32}"),
])
def test_when_the_reference_is_no_run_or_holds_no_model_then_the_error_says_which(runs, ref, message):
    with pytest.raises(CheckpointError, match=message):
        download_model(ref)
