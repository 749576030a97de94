"""An MLflow pyfunc flavour: ``mlflow.pyfunc.load_model(uri).predict(frame)`` forecasts.

The input frame holds each series' history followed by its next ``horizon`` rows,
where the known-future and intervention columns are filled in and the targets are
left empty; the output is the same long table that ``Forecaster.forecast`` returns. With a
``plan`` column labelling two or more copies of the horizon rows it answers a what-if query
instead; the request format is in ``tsloop.query.serving``. Optional ``params``: ``num_samples``,
``seed``, ``objective``, ``interval``.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd

from tsloop.query.results import NUM_SAMPLES


class TsloopForecastModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from tsloop.bundle import Bundle
        from tsloop.query.loading import load_bundle

        self._loaded = load_bundle(Bundle.load(context.artifacts["bundle"]))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from tsloop.query.serving import answer  # forecasts and what-if queries, one request format

        return answer(self._loaded, model_input, params)


def log_pyfunc(logger, bundle_path: Path, name: str = "pyfunc") -> None:
    """Log the pyfunc model into the logger's run, from code (no pickle); requirements are given,
    not inferred, because inference would import and run the model in a subprocess."""
    import torch
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ParamSchema, ParamSpec

    from tsloop.version import __version__

    # input columns differ per task, so only the params are declared; without a params schema
    # MLflow would drop `params` at predict time
    signature = ModelSignature(
        params=ParamSchema([ParamSpec("num_samples", "long", NUM_SAMPLES), ParamSpec("seed", "long", 0),
                            ParamSpec("objective", "string", ""), ParamSpec("interval", "double", 0.9)])
    )

    mlflow.set_tracking_uri(logger._tracking_uri)
    # start_run(run_id=...) refuses a run outside the process's active experiment, which other
    # code may have set (mlflow.set_experiment is process-global): point it at this run's
    mlflow.set_experiment(experiment_id=logger.experiment_id)
    with mlflow.start_run(run_id=logger.run_id):
        mlflow.pyfunc.log_model(
            name=name,
            python_model=str(Path(__file__).with_name("pyfunc_model.py")),
            artifacts={"bundle": str(bundle_path)},
            signature=signature,
            pip_requirements=[f"tsloop=={__version__}", f"torch=={torch.__version__.split('+')[0]}"],
        )
