"""Reading runs back from MLflow: model files and side-by-side comparison tables."""

from __future__ import annotations

import re

import pandas as pd

from tsloop.tracking import store as tracking
from tsloop.errors import CheckpointError, TsloopError

RUN_ID = re.compile(r"^(runs:/)?([0-9a-f]{32})/?$")


def download_model(ref: str) -> str:
    """Local path of the ``model.pt`` artifact of an MLflow run (``RUN_ID`` or ``runs:/RUN_ID``)."""
    import mlflow

    match = RUN_ID.match(ref.strip())
    if not match:
        raise CheckpointError(
            f"{ref!r} is neither a model file, a training output folder, nor an MLflow run id "
            "(32 hex characters, optionally as runs:/ID); list runs with `tsloop compare`"
        )
    mlflow.set_tracking_uri(tracking.tracking_uri())
    try:
        return mlflow.artifacts.download_artifacts(run_id=match.group(2), artifact_path="model/model.pt")
    except Exception as err:
        raise CheckpointError(
            f"could not fetch model/model.pt of run {match.group(2)} from {tracking.tracking_uri()} "
            f"({type(err).__name__}: {str(err)[:200]}); check the run id and MLFLOW_TRACKING_URI"
        ) from None


def compare_runs(
    experiments: list[str] | None = None,
    tags: dict[str, str] | None = None,
    metrics: list[str] | None = None,
    params: list[str] | None = None,
    max_runs: int = 50,
) -> pd.DataFrame:
    """One row per run: name, status, start, chosen params and metrics (all metrics if none chosen)."""
    import mlflow

    mlflow.set_tracking_uri(tracking.tracking_uri())
    client = mlflow.MlflowClient()
    if experiments:
        found = [client.get_experiment_by_name(name) for name in experiments]
        missing = [n for n, e in zip(experiments, found) if e is None]
        if missing:
            known = [e.name for e in client.search_experiments()]
            raise TsloopError(f"no MLflow experiment named {missing} at {tracking.tracking_uri()}; known: {known}")
        ids = [e.experiment_id for e in found]
    else:
        ids = [e.experiment_id for e in client.search_experiments()]
    filter_string = " and ".join(f"tags.`{k}` = '{v}'" for k, v in (tags or {}).items())
    runs = client.search_runs(ids, filter_string=filter_string, max_results=max_runs, order_by=["attributes.start_time DESC"])
    rows = []
    for run in runs:
        row = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "start": pd.to_datetime(run.info.start_time, unit="ms"),
        }
        chosen_params = params or []
        row.update({f"param:{k}": run.data.params.get(k) for k in chosen_params})
        chosen = metrics or sorted(run.data.metrics)
        row.update({k: run.data.metrics.get(k) for k in chosen})
        rows.append(row)
    return pd.DataFrame(rows)


def sync_run(run_id: str, to_uri: str, from_uri: str | None = None, experiment: str | None = None) -> str:
    """Copy one run (params, full metric histories, tags, artifacts) from a store to another, e.g. a
    run kept locally while the tracking server was down. Returns the new run's id on ``to_uri``.

    The copy is tagged ``tsloop.synced_from``, the original ``tsloop.synced_to``; syncing a run
    twice makes a second copy (MLflow runs cannot be merged).
    """
    import tempfile

    import mlflow
    from mlflow.entities import Metric, Param

    source_uri = from_uri or tracking.local_tracking_uri()
    source = mlflow.MlflowClient(source_uri)
    try:
        run = source.get_run(run_id)
    except Exception as err:
        raise TsloopError(
            f"no run {run_id} in {source_uri} ({type(err).__name__}: {str(err)[:160]}); list runs with "
            "`tsloop compare`, or name the store holding it with --from"
        ) from None
    try:
        tracking.probe_server(to_uri)
    except ConnectionError as err:
        raise TsloopError(f"cannot sync to {to_uri}: {err}. Is the tracking server up? Try again later.") from None
    target = mlflow.MlflowClient(to_uri)
    name = experiment or source.get_experiment(run.info.experiment_id).name
    found = target.get_experiment_by_name(name)
    experiment_id = found.experiment_id if found else target.create_experiment(name)
    tags = {k: v for k, v in run.data.tags.items() if k != "tsloop.unsynced_remote"}
    tags["tsloop.synced_from"] = f"{source_uri}#{run_id}"
    copy = target.create_run(experiment_id, start_time=run.info.start_time, tags=tags,
                             run_name=run.info.run_name)
    new_id = copy.info.run_id
    params = [Param(k, v) for k, v in run.data.params.items()]
    metrics = [Metric(m.key, m.value, m.timestamp, m.step)
               for key in run.data.metrics for m in source.get_metric_history(run_id, key)]
    for i in range(0, len(params), 100):  # MLflow's batch limits
        target.log_batch(new_id, params=params[i : i + 100])
    for i in range(0, len(metrics), 1000):
        target.log_batch(new_id, metrics=metrics[i : i + 1000])
    with tempfile.TemporaryDirectory() as tmp:
        if source.list_artifacts(run_id):
            local = mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=tmp, tracking_uri=source_uri)
            target.log_artifacts(new_id, local)
    target.set_terminated(new_id, status=run.info.status if run.info.status != "RUNNING" else "FINISHED",
                          end_time=run.info.end_time)
    source.set_tag(run_id, "tsloop.synced_to", f"{to_uri}#{new_id}")
    return new_id
