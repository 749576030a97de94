"""Train and record: :func:`tsloop.train.fit.fit` with an MLflow logger, then the run's record.

The composers (``tsloop train``, ``Forecaster.fit``, the demo) call :func:`fit_and_record`;
training itself knows nothing of MLflow.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from tsloop.errors import TsloopError
from tsloop.output import write_json
from tsloop.train.fit import FitResult, check_writable, fit
from tsloop.tracking.logger import make_logger, mark_failed
from tsloop.tracking.record import record_run

RUN_FILE = "run.json"  # remembers the MLflow run id so --resume continues the same run


def previous_run_id(out_dir: Path) -> str | None:
    """The MLflow run of an interrupted training in ``out_dir``, if it recorded one."""
    run_file = Path(out_dir) / RUN_FILE
    return json.loads(run_file.read_text()).get("run_id") if run_file.is_file() else None


def fit_and_record(
    task,
    model_config,
    train_config,
    *,
    out_dir: str | Path,
    experiment: str = "tsloop",
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    resume: bool = False,
    plots: bool = True,
    pyfunc: bool = True,
    callbacks: Sequence = (),
) -> FitResult:
    """Train on ``task``, logging epochs to MLflow, and record the finished run (see
    :func:`tsloop.tracking.record.record_run`); with ``resume`` the same MLflow run continues;
    ``callbacks`` are passed to :func:`~tsloop.train.fit.fit`."""
    out_dir = Path(out_dir)
    check_writable(out_dir)  # before a run is opened: a bad --out leaves no empty run behind
    run_id = previous_run_id(out_dir) if resume else None
    logger = make_logger(experiment, run_name or task.spec.name, run_id=run_id, tags=tags)
    if logger.run_id:  # under DDP only rank 0 holds the run; the other ranks must not overwrite the file
        write_json({"run_id": logger.run_id, "experiment": experiment}, out_dir / RUN_FILE)
    try:
        result = fit(task, model_config, train_config, out_dir=out_dir, logger=logger, resume=resume, callbacks=callbacks)
    except TsloopError:
        mark_failed(logger)
        raise
    if result.rank_zero:
        record_run(logger, result, task, model_config, train_config, plots=plots, pyfunc=pyfunc)
    return result
