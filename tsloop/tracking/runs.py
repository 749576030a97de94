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
