"""Lightning's MLflow logger on the configured store, falling back to the local store."""

from __future__ import annotations

import warnings

from lightning.pytorch.loggers import MLFlowLogger

from tsloop.tracking.store import artifact_location, local_tracking_uri, probe_server, tracking_uri, ui_command


def make_logger(
    experiment: str, run_name: str, *, run_id: str | None = None, tags: dict[str, str] | None = None
) -> MLFlowLogger:
    """An MLflow logger on the configured store; falls back to the local store, with a
    warning, when a remote tracking server cannot be reached, at the start or later
    (``FallbackMLFlowLogger``), so training never waits on it."""
    from tsloop.tracking.fallback_logger import FallbackMLFlowLogger

    uri = tracking_uri()
    remote = uri.startswith(("http://", "https://"))
    try:
        probe_server(uri)
        logger = (FallbackMLFlowLogger if remote else MLFlowLogger)(  # the server may also die later
            experiment_name=experiment,
            run_name=run_name,
            tracking_uri=uri,
            artifact_location=artifact_location(),
            run_id=run_id,
            tags=tags,
        )
        logger.run_id  # creates (or reopens) the run: the first contact with the store
    except Exception as err:  # an unreachable server surfaces as many exception types
        local = local_tracking_uri()
        if uri == local:
            raise
        warnings.warn(
            f"MLflow tracking server {uri} is unreachable ({type(err).__name__}: {str(err)[:160]}); "
            f"training continues and logs to the local store {local} instead "
            f"(view it with `{ui_command(local)}`). When the server is back, copy the run "
            f"there with `tsloop sync --run RUN_ID --to {uri}` (the run id is printed at the end).",
            stacklevel=2,
        )
        logger = MLFlowLogger(
            experiment_name=experiment,
            run_name=run_name,
            tracking_uri=local,
            artifact_location=artifact_location(local=True),
            tags={**(tags or {}), "tsloop.unsynced_remote": uri},
        )
        logger.run_id
    return logger


def mark_failed(logger: MLFlowLogger | None) -> None:
    """Close the MLflow run as FAILED, so the tracking UI does not show it running forever."""
    if logger is None or not logger.run_id:
        return
    try:
        logger.experiment.set_terminated(logger.run_id, status="FAILED")
    except Exception:  # the tracking store may be the thing that failed
        pass
