"""One function logs any pipeline's result; it never costs the results on disk."""

from __future__ import annotations

import math

import mlflow
import pytest

from tsloop import tracking
from tsloop.tracking.record import flatten, log_result


def test_when_nested_params_are_flattened_then_keys_join_with_dots():
    assert flatten("model", {"a": 1, "b": {"c": 2}}) == {"model.a": 1, "model.b.c": 2}


def test_when_a_result_is_logged_then_params_metrics_history_and_files_are_in_one_finished_run(tmp_path):
    note = tmp_path / "table.csv"
    note.write_text("a\n1\n")
    run_id = log_result("tests-record", "suite/peer", params={"hp": {"depth": 3}, "odd key!": "x"},
                        metrics={"mse": 0.5, "skipped": math.nan, "flag": True}, tags={"suite": "s"},
                        history={"sweep/mse": [(1, 0.3), (2, 0.2)]}, artifacts=[note], artifact_dir="tables")
    client = mlflow.MlflowClient(tracking.tracking_uri())
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["suite"] == "s"
    assert run.data.params == {"hp.depth": "3", "odd key_": "x"}
    assert run.data.metrics == {"mse": 0.5, "sweep/mse": 0.2}
    assert [m.step for m in client.get_metric_history(run_id, "sweep/mse")] == [1, 2]
    assert [a.path for a in client.list_artifacts(run_id, "tables")] == ["tables/table.csv"]


def test_when_logging_into_an_existing_run_then_it_stays_open_and_gains_the_metrics():
    first = log_result("tests-record", "base", metrics={"a": 1.0})
    assert log_result("", "", run_id=first, metrics={"b": 2.0}) == first
    assert mlflow.MlflowClient(tracking.tracking_uri()).get_run(first).data.metrics == {"a": 1.0, "b": 2.0}


def test_when_the_store_fails_then_a_warning_replaces_the_exception():
    with pytest.warns(UserWarning, match="MLflow logging failed"):
        assert log_result("tests-record", "x", run_id="0" * 32, metrics={"a": 1.0}) is None
