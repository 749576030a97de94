"""MLflow "models from code" entry: MLflow stores this file with the model and runs it on
load, so the logged model holds no pickled object (see tsloop.tracking.pyfunc)."""

import mlflow

from tsloop.tracking.pyfunc import TsloopForecastModel

mlflow.models.set_model(TsloopForecastModel())
