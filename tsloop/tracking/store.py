"""Where MLflow runs go, and whether a remote store answers.

MLflow 3 defaults to ``sqlite:///mlflow.db`` in whatever folder you happen to be in,
and its plain-file store refuses to start. tsloop keeps every run in one place
instead: a SQLite store and an artifact folder inside ``./mlruns`` (the project's
store when run from the checkout). ``MLFLOW_TRACKING_URI`` overrides it, e.g. for
a remote tracking server.
"""

from __future__ import annotations

import os
from pathlib import Path

PROBE_TIMEOUT_S = 3.0  # how long to wait for a remote tracking server before going local


def mlruns_dir() -> Path:
    """The local store folder: ``$TSLOOP_MLRUNS`` or ``./mlruns``."""
    return Path(os.environ.get("TSLOOP_MLRUNS", "mlruns")).resolve()


def _local_uri() -> str:
    return f"sqlite:///{mlruns_dir() / 'mlflow.db'}"


def local_tracking_uri() -> str:
    """The SQLite store in :func:`mlruns_dir`, created on first use."""
    folder = mlruns_dir()
    folder.mkdir(parents=True, exist_ok=True)
    uri = _local_uri()
    if not (folder / "mlflow.db").exists():
        _create_store(folder, uri)
    return uri


def _create_store(folder: Path, uri: str) -> None:
    """Create the SQLite schema under a file lock: two trainings started at once on a fresh store
    would otherwise race through MLflow's migrations and one would fail."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; MLflow creates the store on first use
        return
    import mlflow

    with open(folder / ".create.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        mlflow.MlflowClient(uri).search_experiments(max_results=1)  # runs the migrations


def tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else :func:`local_tracking_uri`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or local_tracking_uri()


def artifact_location(local: bool = False) -> str | None:
    """Artifact root for new experiments on the local store; remote servers choose their own.

    MLflow sets ``MLFLOW_TRACKING_URI`` itself once a logger has opened a run, to the local store's
    URI, so only another URI there means another store. Without that distinction every experiment
    created later in the process (``log_result`` after training) kept its files in ``./mlruns/<id>``
    of whatever folder the process ran in.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri and uri != _local_uri() and not local:
        return None
    return (mlruns_dir() / "artifacts").as_uri()


def ui_command(uri: str | None = None) -> str:
    """The command that opens the MLflow UI on a store (default: the configured one)."""
    return f"mlflow ui --backend-store-uri {uri or tracking_uri()}"


def probe_server(uri: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise ConnectionError at once if an http(s) tracking server does not answer its health check.

    MLflow's own client retries an unreachable server with backoff for minutes; one plain request
    with a short timeout decides instead. Other stores (sqlite, files) need no probe.
    """
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s) as response:
            response.read(64)
    except urllib.error.HTTPError:
        return  # it answered: a server without /health (or behind a proxy) is still reachable
    except (OSError, ValueError) as err:
        raise ConnectionError(f"no answer from {uri} within {timeout_s:g} s ({err})") from None
