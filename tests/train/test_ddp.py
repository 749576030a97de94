"""Lightning DDP on 2 CPU processes (gloo) trains the same model as one process, and logs one run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mlflow
import pytest

from tsloop import tracking
from tsloop.bundle import Bundle
from tsloop.cli.main import main

# one process with batch 32 vs two with batch 16 each: the same global batch and steps per epoch
FLAGS = ["--preset", "tiny", "--max-epochs", "2", "--limit-val-batches", "4", "--no-progress",
         "--train-stride", "16", "--val-stride", "4"]
TOLERANCE = 0.05  # relative (observed: under 1%); different shards per rank change the float sums and the model's random draws


# not marked slow: the issue asks for these fault/scale tests in CI (about 40-60 s each)
def test_when_training_with_ddp_on_two_cpu_processes_then_metrics_match_one_process(tiny_task, tmp_path):
    client = mlflow.MlflowClient(tracking.tracking_uri())
    before = {r.info.run_id for e in client.search_experiments() for r in client.search_runs([e.experiment_id])}

    assert main(["train", "--task", str(tiny_task.path), *FLAGS, "--batch-size", "32", "--out", str(tmp_path / "one")]) == 0
    ddp = subprocess.run(
        [sys.executable, "-m", "tsloop.cli.main", "train", "--task", str(tiny_task.path), *FLAGS, "--batch-size", "16",
         "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--out", str(tmp_path / "two")],
        capture_output=True, text=True, timeout=540, env=os.environ.copy(), check=False,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "Starting with 2 processes" in ddp.stderr and "distributed_backend=gloo" in ddp.stderr

    after = {r.info.run_id for e in client.search_experiments() for r in client.search_runs([e.experiment_id])}
    new = after - before
    assert len(new) == 2  # one per training: rank 1 opened no MLflow run of its own
    one = client.get_run(json.loads((tmp_path / "one" / "run.json").read_text())["run_id"]).data.metrics
    two = client.get_run(json.loads((tmp_path / "two" / "run.json").read_text())["run_id"]).data.metrics
    print("one process vs DDP x2:", {k: (round(one[k], 4), round(two[k], 4)) for k in ("val/loss", "val/crps", "val/mae", "val/mse")})
    for key in ("val/loss", "val/crps", "val/mae"):
        assert two[key] == pytest.approx(one[key], rel=TOLERANCE), (key, one[key], two[key])
    Bundle.load(tmp_path / "two" / "model.pt")  # one complete model file, written by rank 0
    assert not list((tmp_path / "two").glob(".model.pt.*"))
