"""MLflow through Lightning's logger: where runs go, and what a finished run records."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from lightning.pytorch.loggers import MLFlowLogger

from tsloop import tracking

PROBE_TIMEOUT_S = 3.0  # how long make_logger waits for a remote tracking server before going local


def _flatten(prefix: str, values: dict) -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            flat.update(_flatten(name, value))
        else:
            flat[name] = value
    return flat


def make_logger(
    experiment: str, run_name: str, *, run_id: str | None = None, tags: dict[str, str] | None = None
) -> MLFlowLogger:
    """An MLflow logger on the configured store; falls back to the local store, with a
    warning, when a remote tracking server cannot be reached, at the start or later
    (``FallbackMLFlowLogger``), so training never waits on it."""
    from tsloop.train.fallback_logger import FallbackMLFlowLogger

    uri = tracking.tracking_uri()
    remote = uri.startswith(("http://", "https://"))
    try:
        probe_server(uri)
        logger = (FallbackMLFlowLogger if remote else MLFlowLogger)(  # the server may also die later
            experiment_name=experiment,
            run_name=run_name,
            tracking_uri=uri,
            artifact_location=tracking.artifact_location(),
            run_id=run_id,
            tags=tags,
        )
        logger.run_id  # creates (or reopens) the run: the first contact with the store
    except Exception as err:  # an unreachable server surfaces as many exception types
        local = tracking.local_tracking_uri()
        if uri == local:
            raise
        warnings.warn(
            f"MLflow tracking server {uri} is unreachable ({type(err).__name__}: {str(err)[:160]}); "
            f"training continues and logs to the local store {local} instead "
            f"(view it with `{tracking.ui_command(local)}`). When the server is back, copy the run "
            f"there with `tsloop sync --run RUN_ID --to {uri}` (the run id is printed at the end).",
            stacklevel=2,
        )
        logger = MLFlowLogger(
            experiment_name=experiment,
            run_name=run_name,
            tracking_uri=local,
            artifact_location=tracking.artifact_location(local=True),
            tags={**(tags or {}), "tsloop.unsynced_remote": uri},
        )
        logger.run_id
    return logger


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


def _log_params_once(client, run_id: str, params: dict[str, object]) -> None:
    """MLflow params are write-once: a resumed run logs only new keys, and records a value that
    changed on resume (e.g. a larger max_epochs) as a ``resumed.<key>`` tag."""
    logged = client.get_run(run_id).data.params
    new = {k: v for k, v in params.items() if k not in logged}
    if new:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in new.items()]
        for i in range(0, len(items), 100):  # the MLflow batch limit
            client.log_batch(run_id, params=items[i : i + 100])
    for key, value in params.items():
        if key in logged and logged[key] != str(value)[:6000]:
            client.set_tag(run_id, f"resumed.{key}", str(value))


def record_run(logger: MLFlowLogger, result, task, model, model_config, train_config) -> None:
    """Params, fingerprint, final diagnostics, wall time and artifacts of a finished fit."""
    from tsloop.forecaster import Forecaster
    from tsloop.plots import fan_chart, learning_curves
    from tsloop.pyfunc import log_pyfunc

    params = {
        **_flatten("model", model_config.to_dict()),
        **_flatten("train", train_config.to_dict()),
        **_flatten("task", task.spec.to_dict()),
        "data.fingerprint": task.fingerprint(),
        "model.parameters": sum(p.numel() for p in model.parameters()),
    }
    client, run_id = logger.experiment, logger.run_id
    _log_params_once(client, run_id, params)
    logger.log_metrics({"wall_time_s": result.wall_time_s})
    client.log_artifact(run_id, str(result.bundle_path), "model")
    if result.best_checkpoint:
        client.log_artifact(run_id, result.best_checkpoint, "checkpoints")
    forecaster = Forecaster.from_bundle_path(result.bundle_path)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        learning_curves(client, run_id, tmp / "learning_curves.png")
        fan_chart(forecaster, task, tmp / "forecast_fan_validation.png", part="val")
        for png in tmp.glob("*.png"):
            client.log_artifact(run_id, str(png), "plots")
    log_pyfunc(logger, result.bundle_path)
