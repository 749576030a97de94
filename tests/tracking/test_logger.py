"""A tracking server that is down: training logs locally at once, and `tsloop sync` copies the run later."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest

from tsloop import tracking
from tsloop.cli.main import main
from tsloop.tracking.logger import make_logger
from tsloop.tracking.store import probe_server

SERVER_START_S = 120  # bounded wait for `mlflow server` to answer /health


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_when_the_tracking_server_is_unreachable_then_the_logger_falls_back_to_local_within_seconds(monkeypatch):
    uri = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    start = time.perf_counter()
    with pytest.warns(UserWarning, match=r"unreachable.*tsloop sync --run RUN_ID --to http://127\.0\.0\.1"):
        logger = make_logger("fallback", "offline-run")
    assert time.perf_counter() - start < 30  # MLflow's own retries would take minutes (most of this is SQLite setup)
    assert logger._tracking_uri == tracking.local_tracking_uri()
    run = mlflow.MlflowClient(tracking.local_tracking_uri()).get_run(logger.run_id)
    assert run.data.tags["tsloop.unsynced_remote"] == uri


def test_when_nothing_listens_then_the_probe_answers_at_once():
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match="no answer from"):
        probe_server(f"http://127.0.0.1:{_free_port()}")
    assert time.perf_counter() - start < 5


@pytest.fixture
def mlflow_server(tmp_path):
    """A real MLflow server on loopback with a SQLite store in tmp; stopped after the test."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server_artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mlflow server did not start: {proc.stderr.read()[-2000:] if proc.poll() is not None else 'timeout'}")
                time.sleep(0.5)
        yield uri
    finally:  # the server and its workers form their own process group, started here
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


def test_when_a_local_run_is_synced_then_the_server_holds_its_params_metrics_tags_and_artifacts(
    trained, mlflow_server, capsys
):
    assert main(["sync", "--run", trained.run_id, "--to", mlflow_server]) == 0
    new_id = capsys.readouterr().out.split(" as run ")[-1].strip()
    local = mlflow.MlflowClient(tracking.local_tracking_uri())
    remote = mlflow.MlflowClient(mlflow_server)
    original, copy = local.get_run(trained.run_id), remote.get_run(new_id)
    assert copy.data.params == original.data.params
    assert copy.data.metrics == original.data.metrics
    for key in ("val/loss", "train/loss"):
        assert ([(m.step, m.value) for m in remote.get_metric_history(new_id, key)]
                == [(m.step, m.value) for m in local.get_metric_history(trained.run_id, key)])
    assert copy.data.tags["tsloop.synced_from"].endswith(trained.run_id)
    assert local.get_run(trained.run_id).data.tags["tsloop.synced_to"].endswith(new_id)
    files = {a.path for a in remote.list_artifacts(new_id, "model")}
    assert "model/model.pt" in files
    # the copied model is usable from the server
    path = mlflow.artifacts.download_artifacts(run_id=new_id, artifact_path="model/model.pt",
                                               tracking_uri=mlflow_server)
    assert Path(path).read_bytes() == trained.model.read_bytes()


def test_when_syncing_to_a_server_that_is_down_then_the_cli_exits_2(trained, capsys):
    code = main(["sync", "--run", trained.run_id, "--to", f"http://127.0.0.1:{_free_port()}"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot sync" in err and "Traceback" not in err
