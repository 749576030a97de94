"""What a run records: a finished fit (params, fingerprint, model, plots, pyfunc), or any result
of a pipeline (params, metrics, files) through one function, :func:`log_result`."""

from __future__ import annotations

import math
import re
import tempfile
import time
import warnings
from pathlib import Path

from tsloop.tracking.store import artifact_location, tracking_uri

PARAM_CHARS = 6000  # MLflow's limit on a param value
BATCH = 100  # MLflow's limit on params per batch


def flatten(prefix: str, values: dict) -> dict[str, object]:
    """``{"a": {"b": 1}}`` -> ``{"prefix.a.b": 1}``."""
    flat: dict[str, object] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten(name, value))
        else:
            flat[name] = value
    return flat


def log_params_once(client, run_id: str, params: dict[str, object]) -> None:
    """MLflow params are write-once: a resumed run logs only new keys, and records a value that
    changed on resume (e.g. a larger max_epochs) as a ``resumed.<key>`` tag."""
    from mlflow.entities import Param

    logged = client.get_run(run_id).data.params
    new = {k: v for k, v in params.items() if k not in logged}
    items = [Param(k, str(v)[:PARAM_CHARS]) for k, v in new.items()]
    for i in range(0, len(items), BATCH):
        client.log_batch(run_id, params=items[i : i + BATCH])
    for key, value in params.items():
        if key in logged and logged[key] != str(value)[:PARAM_CHARS]:
            client.set_tag(run_id, f"resumed.{key}", str(value))


def record_run(logger, result, task, model_config, train_config, *, plots: bool = True, pyfunc: bool = True) -> None:
    """Params, fingerprint, wall time and the model file of a finished fit; with ``plots`` the
    learning curves and a validation fan chart, with ``pyfunc`` an MLflow pyfunc model."""
    from tsloop.bundle import Bundle

    bundle = Bundle.load(result.bundle_path)
    params = {
        **flatten("model", model_config.to_dict()),
        **flatten("train", train_config.to_dict()),
        **flatten("task", task.spec.to_dict()),
        "data.fingerprint": task.fingerprint(),
        "model.parameters": bundle.meta.get("parameters"),
    }
    init = result.extra.get("init")
    if init:  # started from a pretrained model (TrainConfig.init): what was copied, fresh and frozen
        params.update({"init.source": init["source"], "init.copied_tensors": len(init["copied"]),
                       "init.fitted_tensors": len(init.get("aligned", [])), "init.fresh_tensors": len(init["fresh"]),
                       "init.frozen_tensors": len(init["frozen"])})
        if "start" in result.extra.get("prefit", {}):  # the pretrained forecast or a fresh head (adapt_start.py)
            params["init.start"] = result.extra["prefit"]["start"]
    client, run_id = logger.experiment, logger.run_id
    log_params_once(client, run_id, params)
    client.set_tag(run_id, "tsloop.device", result.device)
    if init:
        client.log_dict(run_id, init, "init.json")
    logger.log_metrics({"wall_time_s": result.wall_time_s})
    prefit = result.extra.get("prefit")
    if prefit:  # the direct path's least-squares start (TrainConfig.direct_path)
        logger.log_metrics({"prefit/mse_before": prefit["before"], "prefit/mse_after": prefit["after"],
                            "prefit/windows": prefit["windows"],
                            **{f"prefit/{prefit['compare_part']}_mse/{start.replace(' ', '_')}": mse
                               for start, mse in prefit.get("compare_mse", {}).items()}})
    calibration = result.extra.get("policy_calibration")
    if calibration:  # the policy head's calibration on the validation part (overlap, model/policy.py)
        logger.log_metrics({"policy/calibration_steps": float(sum(calibration["steps"])),
                            **{f"policy/raw_below_005/{name}": b
                               for name, b in zip(task.spec.intervention, calibration["raw_below_005"]) if b == b}})
    client.log_artifact(run_id, str(result.bundle_path), "model")
    if result.best_checkpoint:
        client.log_artifact(run_id, result.best_checkpoint, "checkpoints")
    if plots:
        from tsloop.plots import fan_chart, learning_curves
        from tsloop.query.loading import load_bundle

        loaded = load_bundle(bundle)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            learning_curves(client, run_id, tmp / "learning_curves.png")
            fan_chart(loaded, task, tmp / "forecast_fan_validation.png", part="val")
            for png in tmp.glob("*.png"):
                client.log_artifact(run_id, str(png), "plots")
    if pyfunc:
        from tsloop.tracking.pyfunc import log_pyfunc

        log_pyfunc(logger, result.bundle_path)


def log_result(
    experiment: str,
    run_name: str,
    *,
    params: dict | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    artifacts: list[Path] | tuple = (),
    artifact_dir: str | None = None,
    history: dict[str, list[tuple[int, float]]] | None = None,
    run_id: str | None = None,
) -> str | None:
    """Log a pipeline's result as one MLflow run (or into the existing ``run_id``) and return its id.

    ``history``: metrics with a step axis, name -> [(step, value), ...].

    Param names are made MLflow-safe and values cut to its limit; non-finite metrics are left
    out. A failure warns and returns None: tracking must never cost the results on disk.
    """
    import mlflow

    try:
        client = mlflow.MlflowClient(tracking_uri())
        created = run_id is None
        if created:
            found = client.get_experiment_by_name(experiment)
            exp_id = found.experiment_id if found else client.create_experiment(experiment, artifact_location())
            run_id = client.create_run(exp_id, run_name=run_name, tags=tags or {}).info.run_id
        elif tags:
            for key, value in tags.items():
                client.set_tag(run_id, key, str(value))
        if params:
            safe = {re.sub(r"[^\w\-. :/]", "_", str(k)): v for k, v in flatten("", params).items()}
            log_params_once(client, run_id, safe)
        now = int(time.time() * 1000)
        points = [(k, v, 0) for k, v in (metrics or {}).items()]
        points += [(k, v, step) for k, series in (history or {}).items() for step, v in series]
        finite = [(k, float(v), int(step)) for k, v, step in points
                  if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
        if finite:
            from mlflow.entities import Metric

            items = [Metric(k, v, now, step) for k, v, step in finite]
            for i in range(0, len(items), 1000):  # MLflow's batch limit for metrics
                client.log_batch(run_id, metrics=items[i : i + 1000])
        for path in artifacts:
            client.log_artifact(run_id, str(path), artifact_dir)
        if created:
            client.set_terminated(run_id)
        return run_id
    except Exception as err:
        warnings.warn(f"MLflow logging failed ({type(err).__name__}: {str(err)[:200]}); results are on disk",
                      stacklevel=2)
        return None
