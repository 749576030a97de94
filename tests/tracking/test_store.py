import subprocess
import sys
from pathlib import Path

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


def test_when_mlflow_has_set_the_tracking_uri_to_the_local_store_then_artifacts_stay_in_it(monkeypatch):
    from tsloop import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking.local_tracking_uri())  # what mlflow.set_tracking_uri does
    assert tracking.artifact_location() == (tracking.mlruns_dir() / "artifacts").as_uri()


def test_when_a_result_is_logged_after_training_then_its_files_stay_in_the_store_not_the_working_folder(tmp_path):
    # a process of its own: opening a run makes MLflow set MLFLOW_TRACKING_URI for the rest of the process
    code = (
        "import mlflow, pathlib; from tsloop import tracking; "
        "from tsloop.tracking.logger import make_logger; from tsloop.tracking.record import log_result; "
        "make_logger('train', 'fit'); pathlib.Path('note.txt').write_text('x'); "
        "run_id = log_result('probe', 'probe', artifacts=['note.txt']); "
        "print(mlflow.MlflowClient(tracking.tracking_uri()).get_run(run_id).info.artifact_uri)"
    )
    env = {"TSLOOP_MLRUNS": str(tmp_path / "store"), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # this checkout's tsloop, whatever is installed
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().startswith((tmp_path / "store" / "artifacts").as_uri())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["note.txt", "store"]  # no ./mlruns beside them
