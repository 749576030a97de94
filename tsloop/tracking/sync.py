"""``sync_run``: bring a run kept locally (tracking server down) to a tracking server, idempotently.

Where the run goes on the target, first match wins:

1. the remote run it continues (tag ``tsloop.remote_run``: the server died mid-training and the
   rest was logged locally): what the local run holds is added to it, which completes it;
2. the copy an earlier sync made (tag ``tsloop.synced_to`` on the local run);
3. a new run.

Only what the target run lacks is sent: params by key, metric values by (key, step, timestamp),
tags by key, artifacts by path. So syncing twice, or after a sync that was cut off, duplicates
nothing and finishes what is missing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tsloop.tracking import store as tracking
from tsloop.errors import TsloopError

SYNCED_FROM, SYNCED_TO = "tsloop.synced_from", "tsloop.synced_to"
UNSYNCED_TAG, REMOTE_RUN_TAG = "tsloop.unsynced_remote", "tsloop.remote_run"  # see tracking/fallback_logger.py
LOCAL_ONLY_TAGS = {UNSYNCED_TAG, REMOTE_RUN_TAG, SYNCED_TO}


def sync_run(run_id: str, to_uri: str, from_uri: str | None = None, experiment: str | None = None) -> tuple[str, dict]:
    """Sync run ``run_id`` of ``from_uri`` (default: the local store) to ``to_uri``. Returns the id
    of the run on ``to_uri`` and what was sent: ``{"params": n, "metrics": n, "tags": n,
    "artifacts": n, "into": "remote run" | "earlier copy" | "new run"}``."""
    import mlflow

    from tsloop.tracking.store import probe_server

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
        probe_server(to_uri)
    except ConnectionError as err:
        raise TsloopError(f"cannot sync to {to_uri}: {err}. Is the tracking server up? Try again later.") from None
    target = mlflow.MlflowClient(to_uri)
    target_id, into = _target_run(run, to_uri, target)
    if target_id is None:
        name = experiment or source.get_experiment(run.info.experiment_id).name
        found = target.get_experiment_by_name(name)
        experiment_id = found.experiment_id if found else target.create_experiment(name)
        target_id = target.create_run(experiment_id, start_time=run.info.start_time,
                                      run_name=run.info.run_name).info.run_id
    sent = {"into": into, **_send(source, run, target, target_id),
            "artifacts": _send_artifacts(source, source_uri, run, target, target_id)}
    sent["tags"] = _send_tags(run, target, target_id, f"{source_uri}#{run_id}")
    target.set_terminated(target_id, status=run.info.status if run.info.status != "RUNNING" else "FINISHED",
                          end_time=run.info.end_time)
    source.set_tag(run_id, SYNCED_TO, f"{to_uri}#{target_id}")
    return target_id, sent


def _same_server(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _target_run(run, to_uri: str, target) -> tuple[str | None, str]:
    """The run on the target to sync into, and which kind it is; (None, "new run") if none exists."""
    tags = run.data.tags
    candidates = []
    if tags.get(REMOTE_RUN_TAG) and _same_server(tags.get(UNSYNCED_TAG, ""), to_uri):
        candidates.append((tags[REMOTE_RUN_TAG], "remote run"))
    uri, _, copy_id = tags.get(SYNCED_TO, "").rpartition("#")
    if copy_id and _same_server(uri, to_uri):
        candidates.append((copy_id, "earlier copy"))
    for candidate, kind in candidates:
        try:
            target.get_run(candidate)
        except Exception:  # deleted on the server (or never made it there): try the next
            continue
        return candidate, kind
    return None, "new run"


def _send(source, run, target, target_id: str) -> dict[str, int]:
    """Params and metric values of ``run`` that the target run lacks; counts sent."""
    from mlflow.entities import Metric, Param

    have = target.get_run(target_id).data
    params = [Param(k, v) for k, v in run.data.params.items() if k not in have.params]
    for i in range(0, len(params), 100):  # MLflow's batch limits
        target.log_batch(target_id, params=params[i : i + 100])
    metrics = []
    for key in run.data.metrics:
        known = {(m.step, m.timestamp) for m in target.get_metric_history(target_id, key)} if key in have.metrics else set()
        metrics += [Metric(m.key, m.value, m.timestamp, m.step) for m in source.get_metric_history(run.info.run_id, key)
                    if (m.step, m.timestamp) not in known]
    for i in range(0, len(metrics), 1000):
        target.log_batch(target_id, metrics=metrics[i : i + 1000])
    return {"params": len(params), "metrics": len(metrics)}


def _send_tags(run, target, target_id: str, origin: str) -> int:
    have = target.get_run(target_id).data.tags
    tags = {k: v for k, v in run.data.tags.items() if k not in LOCAL_ONLY_TAGS and k not in have}
    if SYNCED_FROM not in have:
        tags[SYNCED_FROM] = origin
    for key, value in tags.items():
        target.set_tag(target_id, key, value)
    return len(tags)


def _artifact_paths(client, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= _artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def _send_artifacts(source, source_uri: str, run, target, target_id: str) -> int:
    import mlflow

    missing = _artifact_paths(source, run.info.run_id) - _artifact_paths(target, target_id)
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(missing):
            local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=path, dst_path=tmp,
                                                        tracking_uri=source_uri)
            parent = str(Path(path).parent)
            target.log_artifact(target_id, local, None if parent == "." else parent)
    return len(missing)
