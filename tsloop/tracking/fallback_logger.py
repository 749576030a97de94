"""An MLflow logger that survives its tracking server dying mid-training.

``make_logger`` already falls back to the local store when the server is down at the start. This
covers the server going away later: every call to the remote store is made with short retries
(MLflow's own client backs off for minutes), and when one fails and the server no longer answers
its health check, the logger opens a run in the local store, warns once, and sends that call and
all later ones there. The local run is tagged with the server and the id of the run it continues
(``tsloop.unsynced_remote``, ``tsloop.remote_run``), so ``tsloop sync`` can later add what it holds
to that same remote run, which completes it.
"""

from __future__ import annotations

import contextlib
import os
import warnings

from lightning.pytorch.loggers import MLFlowLogger
from mlflow import MlflowClient

from tsloop.tracking import store as tracking

UNSYNCED_TAG = "tsloop.unsynced_remote"  # the server a local run should be synced to
REMOTE_RUN_TAG = "tsloop.remote_run"  # the run on that server this local run continues

# per remote call: one retry after a second, 15 s per request, instead of MLflow's minutes of backoff
QUICK_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
              "MLFLOW_HTTP_REQUEST_TIMEOUT": "15"}


@contextlib.contextmanager
def quick_http():
    """MLflow's HTTP retry settings set to QUICK_HTTP for the block (MLflow reads them per request)."""
    saved = {k: os.environ.get(k) for k in QUICK_HTTP}
    os.environ.update(QUICK_HTTP)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class FallbackMLFlowLogger(MLFlowLogger):
    """``MLFlowLogger`` on a remote server that moves to the local store when the server dies."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._remote_uri = self._tracking_uri
        self._remote_run_id: str | None = None  # set once the remote run exists
        self.fell_back = False

    @property
    def experiment(self):
        if self.fell_back:
            return super().experiment  # the local client now
        with quick_http():
            client = super().experiment  # opens the run: make_logger does this while the server is up
        if not isinstance(client, MlflowClient):  # DDP ranks other than 0 get a dummy
            return client
        self._remote_run_id = self._run_id
        return _GuardedClient(self, client)

    def _fall_back(self, err: Exception) -> None:
        """Open the local run that takes the rest of the logging, and say so once."""
        local_uri = tracking.local_tracking_uri()
        client = MlflowClient(local_uri)
        found = client.get_experiment_by_name(self._experiment_name)
        experiment_id = (found.experiment_id if found is not None and found.lifecycle_stage != "deleted"
                         else client.create_experiment(self._experiment_name,
                                                       artifact_location=tracking.artifact_location(local=True)))
        tags = {**(self.tags or {}), UNSYNCED_TAG: self._remote_uri, REMOTE_RUN_TAG: self._remote_run_id}
        if self._run_name:
            tags["mlflow.runName"] = self._run_name
        run = client.create_run(experiment_id, tags=tags)
        warnings.warn(
            f"MLflow tracking server {self._remote_uri} stopped answering during training "
            f"({type(err).__name__}: {str(err)[:160]}); training continues and logs the rest to the local "
            f"store {local_uri} as run {run.info.run_id} (view it with `{tracking.ui_command(local_uri)}`). "
            f"When the server is back, complete the remote run {self._remote_run_id} with "
            f"`tsloop sync --run {run.info.run_id} --to {self._remote_uri}`.",
            stacklevel=3,
        )
        self._mlflow_client, self._tracking_uri = client, local_uri
        self._experiment_id, self._run_id = experiment_id, run.info.run_id
        self.fell_back = True


class _GuardedClient:
    """The remote ``MlflowClient``, each call with quick retries; a call that fails because the
    server is gone makes the logger fall back, and is repeated on the local run."""

    def __init__(self, logger: FallbackMLFlowLogger, client: MlflowClient):
        self._logger, self._client = logger, client

    def __getattr__(self, name: str):
        if not callable(getattr(self._client, name)):  # plain attributes need no guard
            return getattr(self._logger._mlflow_client if self._logger.fell_back else self._client, name)

        def call(*args, **kwargs):
            logger = self._logger
            if not logger.fell_back:
                try:
                    with quick_http():
                        return getattr(self._client, name)(*args, **kwargs)
                except Exception as err:
                    if _answers(logger._remote_uri):
                        raise  # the server is up: a real error of this call, not an outage
                    logger._fall_back(err)
            remote, local = logger._remote_run_id, logger._run_id
            args = [local if a == remote else a for a in args]
            kwargs = {k: local if v == remote else v for k, v in kwargs.items()}
            return getattr(logger._mlflow_client, name)(*args, **kwargs)

        return call


def _answers(uri: str) -> bool:
    from tsloop.tracking.store import probe_server

    try:
        probe_server(uri)
    except ConnectionError:
        return False
    return True
