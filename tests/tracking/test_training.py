"""Train and record (tsloop/tracking/training.py): the run is opened only for a writable folder,
its id is kept for --resume, and a failed training closes it as FAILED."""

from __future__ import annotations

import json
from types import SimpleNamespace

import mlflow
import pytest

from tsloop import tracking
from tsloop.errors import TrainingDivergedError, TsloopError
from tsloop.tracking import training
from tsloop.tracking.training import RUN_FILE, fit_and_record, previous_run_id

TASK = SimpleNamespace(spec=SimpleNamespace(name="tiny"))  # fit is replaced: only the run's name is read


def _runs(experiment: str) -> list:
    client = mlflow.MlflowClient(tracking.tracking_uri())
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])


def test_when_a_folder_recorded_a_run_then_its_id_is_read_back(tmp_path):
    assert previous_run_id(tmp_path) is None
    (tmp_path / RUN_FILE).write_text(json.dumps({"run_id": "abc", "experiment": "x"}))
    assert previous_run_id(tmp_path) == "abc"


def test_when_the_output_folder_cannot_be_written_then_no_run_is_opened(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(TsloopError, match="cannot write to the output folder"):
        fit_and_record(TASK, None, None, out_dir=blocker / "out", experiment="tests-training-unwritable")
    assert _runs("tests-training-unwritable") == []


def _failing_fit(monkeypatch, error: Exception) -> dict:
    """Make ``fit`` note the MLflow run it was given, then raise ``error``; returns the note."""
    seen = {}

    def failing(task, model_config, train_config, *, out_dir, logger, resume, callbacks=()):
        seen["run_id"] = logger.run_id
        raise error

    monkeypatch.setattr(training, "fit", failing)
    return seen


def test_when_training_fails_then_the_run_is_closed_as_failed_and_its_id_kept_for_resume(tmp_path, monkeypatch):
    seen = _failing_fit(monkeypatch, TrainingDivergedError("loss became nan"))
    with pytest.raises(TrainingDivergedError):
        fit_and_record(TASK, None, None, out_dir=tmp_path, experiment="tests-training-failed")
    [run] = _runs("tests-training-failed")
    assert run.info.status == "FAILED" and run.info.run_name == "tiny"
    assert previous_run_id(tmp_path) == run.info.run_id == seen["run_id"]


def test_when_resumed_then_the_same_run_continues_and_is_recorded(tmp_path, monkeypatch):
    first = _failing_fit(monkeypatch, TsloopError("interrupted"))
    with pytest.raises(TsloopError):
        fit_and_record(TASK, None, None, out_dir=tmp_path, experiment="tests-training-resume")
    recorded = []
    monkeypatch.setattr(training, "fit", lambda *a, logger, resume, **k: SimpleNamespace(
        rank_zero=True, run_id=logger.run_id, resumed=resume))
    monkeypatch.setattr(training, "record_run", lambda logger, result, *a, **k: recorded.append(result))
    result = fit_and_record(TASK, None, None, out_dir=tmp_path, experiment="tests-training-resume", resume=True)
    assert result.run_id == first["run_id"] and result.resumed and recorded == [result]
