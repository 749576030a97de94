import subprocess
import sys

import mlflow


def test_when_two_processes_open_a_fresh_store_at_once_then_both_succeed(tmp_path):
    code = (
        "import mlflow, sys; from tsloop import tracking; "
        "c = mlflow.MlflowClient(tracking.tracking_uri()); "
        "c.create_experiment(sys.argv[1]); print('ok')"
    )
    env = {"TSLOOP_MLRUNS": str(tmp_path / "mlruns"), "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, "-c", code, f"exp{i}"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-400:] for _, err in results]
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    assert {"exp0", "exp1"} <= {e.name for e in client.search_experiments()}


def test_when_mlflow_tracking_uri_is_set_then_it_wins(monkeypatch):
    from tsloop import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.tracking_uri() == "http://127.0.0.1:5999"
    assert tracking.artifact_location() is None
