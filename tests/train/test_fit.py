"""Training through the CLI: what the MLflow run holds, the pyfunc model, resume, determinism."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.conftest import HORIZON, TRAIN_FLAGS
from tsloop import tracking
from tsloop.cli.main import main
from tsloop.forecaster import Forecaster


@pytest.fixture(scope="module")
def client():
    return mlflow.MlflowClient(tracking.tracking_uri())


def _artifacts(client, run_id, path=""):
    out = []
    for item in client.list_artifacts(run_id, path):
        out.extend(_artifacts(client, run_id, item.path) if item.is_dir else [item.path])
    return out


def test_when_training_finishes_then_the_run_has_config_metrics_diagnostics_and_artifacts(trained, client):
    run = client.get_run(trained.run_id)
    params, metrics = run.data.params, run.data.metrics
    for key in ("model.d_model", "model.kappa", "train.seed", "train.lr", "task.horizon", "data.fingerprint",
                "model.parameters"):
        assert key in params, key
    assert int(params["model.parameters"]) > 0 and len(params["data.fingerprint"]) == 64
    for key in ("train/loss", "val/loss", "val/mae", "val/mse", "val/crps", "val/select", "wall_time_s",
                "diag/retention_min", "diag/retention_max", "diag/certified_bound", "diag/loops_mean"):
        assert key in metrics and np.isfinite(metrics[key]), key
    # selection scores the whole horizon: CRPS plus event BCE (the tiny task has events)
    assert metrics["val/select"] == pytest.approx(metrics["val/crps"] + metrics.get("val/event_bce", 0.0), rel=1e-6)
    assert 0 < metrics["diag/retention_min"] <= metrics["diag/retention_max"] < 1
    # a task with interventions trains its direct path jointly (TrainConfig.direct_path="auto"): no least-squares fit
    assert not any(key.startswith("prefit/") for key in metrics)
    assert metrics["diag/certified_bound"] <= 0.9 + 1e-6
    files = _artifacts(client, trained.run_id)
    for expected in ("model/model.pt", "checkpoints/best.ckpt", "plots/learning_curves.png",
                     "plots/forecast_fan_validation.png"):
        assert expected in files, (expected, files)


def test_when_the_pyfunc_model_is_loaded_then_it_predicts_what_the_python_api_does(trained):
    frame = trained.task.frame
    spec = Forecaster.load(trained.model).spec
    request = pd.concat(
        [g.iloc[900 : 900 + spec.context_length + HORIZON] for _, g in frame.groupby("series", sort=True)]
    )
    request.loc[request.groupby("series").cumcount() >= spec.context_length, list(spec.target)] = np.nan
    model = mlflow.pyfunc.load_model(f"runs:/{trained.run_id}/pyfunc")
    got = model.predict(request, params={"num_samples": 32, "seed": 4})
    want = Forecaster.load(trained.model).forecast_frame(request, num_samples=32, seed=4)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))
    assert {"series_id", "timestamp", "channel", "mean", "q0.5"} <= set(got.columns)


def test_when_trained_twice_with_the_same_seed_then_metrics_are_identical_and_resume_continues(
    trained, client, tmp_path
):
    out = tmp_path / "again"
    assert main(["train", "--task", str(trained.task.path), "--out", str(out), *TRAIN_FLAGS]) == 0
    run_id = json.loads((out / "run.json").read_text())["run_id"]
    first, again = client.get_run(trained.run_id).data.metrics, client.get_run(run_id).data.metrics
    for key in ("val/loss", "val/mae", "val/crps", "train/loss"):
        assert first[key] == again[key], key

    flags = [f if f != "1" else "2" for f in TRAIN_FLAGS]  # --max-epochs 2
    assert main(["train", "--task", str(trained.task.path), "--out", str(out), "--resume", *flags]) == 0
    assert json.loads((out / "run.json").read_text())["run_id"] == run_id  # the same MLflow run
    epochs = [m.step for m in client.get_metric_history(run_id, "val/loss")]
    assert len(epochs) == 2 and epochs[1] > epochs[0]


def test_when_resuming_without_a_checkpoint_then_the_error_says_what_to_do(trained, tmp_path, capsys):
    code = main(["train", "--task", str(trained.task.path), "--out", str(tmp_path / "none"), "--resume",
                 *TRAIN_FLAGS])
    assert code == 2
    assert "no checkpoint" in capsys.readouterr().err
