"""The Python API: fit on a frame, forecast, and ask what-if questions.

A thin facade: the queries are :mod:`tsloop.query.forecast` and :mod:`tsloop.query.whatif`,
training with its MLflow record is :func:`tsloop.tracking.training.fit_and_record`.

Example (a tiny model trained for three steps on a simulated fleet: it shows the calls, its
numbers mean nothing; the run is recorded in the MLflow store, ``./mlruns`` or ``$TSLOOP_MLRUNS``)::

    >>> import tempfile
    >>> from tsloop import Forecaster
    >>> from tsloop.data.spec import TaskSpec
    >>> from tsloop.sim.plant import load_plant_frame
    >>> frame = load_plant_frame(series=2, steps=800, step_minutes=15)
    >>> spec = TaskSpec(target=["latency_p95"], intervention=["replicas"], freq="15min",
    ...                 context_length=32, horizon=8, format="long", series_id="series",
    ...                 transforms={"latency_p95": "log1p"})
    >>> fc = Forecaster.fit(frame, spec, preset="tiny", out_dir=tempfile.mkdtemp(),
    ...                     train_options={"max_steps": 3, "progress_bar": False})
    >>> rows = frame.groupby("series")
    >>> history = rows.nth(range(700, 732))                          # the last 32 rows of each series
    >>> future = rows.nth(range(732, 740))[["timestamp", "series", "replicas"]]   # the next 8: the plan
    >>> result = fc.forecast(history, future)          # quantiles and event probabilities
    >>> result.samples.shape                           # (samples, series, horizon, targets)
    (200, 2, 8, 1)
    >>> plan_a, plan_b = future, future.assign(replicas=12)
    >>> answer = fc.whatif(history, {"keep": plan_a, "scale_up": plan_b},
    ...                    objective="mean:latency_p95")
    >>> print(answer.summary())
    objective: mean:latency_p95:min (lower is better)
    series cluster_00:
      keep ...
      scale_up ...
      scale_up - keep: ..., P(scale_up better) = ...
    ...
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from tsloop.bundle import Bundle
from tsloop.data.readers import Frame
from tsloop.data.scaling import StandardScaler
from tsloop.data.spec import TaskSpec
from tsloop.query import forecast as query_forecast
from tsloop.query import whatif as query_whatif
from tsloop.query import zero_shot as query_zero_shot
from tsloop.query.loading import load_bundle, range_margin
from tsloop.query.pretrained import KEYWORD, check_sidecar, is_pretrained, load_pretrained
from tsloop.query.results import DEFAULT_LEVELS, NUM_SAMPLES, ForecastResult, WhatIfResult


class Forecaster:
    """A trained world model with the spec and scaler of its training data.

    ``range_margin``: samples are clipped to each target's training range widened by this many
    range widths (None: no clipping); set when training (``TrainConfig.range_margin``), stored
    with the model, and may be changed on the instance.
    """

    def __init__(self, model, spec: TaskSpec, scaler: StandardScaler, meta: dict | None = None):
        self.model = model.eval()
        self.spec = spec
        self.scaler = scaler
        self.meta = meta or {}
        self.range_margin = range_margin(self.meta)

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> "Forecaster":
        loaded = load_bundle(bundle)
        return cls(loaded.model, loaded.spec, loaded.scaler, loaded.meta)

    @classmethod
    def from_bundle_path(cls, path: str | Path) -> "Forecaster":
        return cls.from_bundle(Bundle.load(path))

    @classmethod
    def load(cls, ref: str | Path) -> "Forecaster":
        """From a model file (``model.pt``), a training output folder, an MLflow run id / ``runs:/ID``,
        or ``"pretrained"`` (the shipped pretrained model, :meth:`pretrained`)."""
        if str(ref) == KEYWORD:
            return cls.pretrained()
        path = Path(ref)
        if path.is_dir():
            path = path / "model.pt"
        if path.exists() or str(ref).endswith(".pt"):
            check_sidecar(path)
            return cls.from_bundle_path(path)
        from tsloop.tracking.runs import download_model

        return cls.from_bundle_path(download_model(str(ref)))

    @classmethod
    def pretrained(cls, path: str | Path | None = None) -> "Forecaster":
        """The pretrained universal model: the one shipped in the package (``path`` None), or a
        pretrained model file or folder (``pipelines/pretrain/train.py`` writes one). Loaded with
        ``weights_only=True`` and checked against its checksums; use it with :meth:`zero_shot`,
        or adapt it to a task with ``train_options={"init": path}``. Raises CheckpointError,
        saying how to build one, when none is shipped."""
        return cls.from_bundle(load_pretrained(path))

    @property
    def is_pretrained(self) -> bool:
        """True for a pretrained universal model (forecast with :meth:`zero_shot`)."""
        return is_pretrained(self.meta)

    def save(self, path: str | Path) -> Path:
        return Bundle(
            model_config=self.model.cfg.to_dict(),
            spec=self.spec.to_dict(),
            scaler=self.scaler.to_dict(),
            state_dict=self.model.state_dict(),
            meta={**self.meta, "range_margin": self.range_margin},
        ).save(path)

    @classmethod
    def fit(
        cls,
        data: Frame | str | Path | None,
        spec: TaskSpec | str | Path,
        *,
        preset: str = "small",
        model_options: dict | None = None,
        train_options: dict | None = None,
        out_dir: str | Path = "outputs/fit",
        experiment: str = "tsloop",
    ) -> "Forecaster":
        """Train on ``data`` (a frame, a data file, or None to read the spec's file) and return the
        fitted forecaster. The MLflow run id and metrics are on ``forecaster.meta``.

        ``train_options={"init": "pretrained", "finetune": "heads"}`` starts from a pretrained model
        (the shipped one, or a file): its size, every weight that fits (see ``tsloop.train.init``)."""
        from dataclasses import replace

        from tsloop.data.task import load_task
        from tsloop.model.config import ModelConfig
        from tsloop.tracking.training import fit_and_record
        from tsloop.train.config import TrainConfig
        from tsloop.train.init import init_config

        if isinstance(data, (str, Path)):  # the caller's explicit file, like --data: it may lie anywhere
            spec = TaskSpec.from_yaml(spec) if isinstance(spec, (str, Path)) else spec
            task = load_task(replace(spec, data=str(Path(data).resolve()), allow_outside=True))
        else:
            task = load_task(spec, frame=data)
        s = task.spec
        train_config = TrainConfig.from_dict(train_options or {})
        # from a pretrained model (train_options={"init": ...}): its size, the task's shape; preset unused
        cfg = init_config(train_config.init, s) if train_config.init else ModelConfig.for_task(preset, s)
        if model_options:
            cfg = ModelConfig.from_dict({**cfg.to_dict(), **model_options})
        result = fit_and_record(task, cfg, train_config, out_dir=out_dir, experiment=experiment)
        forecaster = cls.from_bundle_path(result.bundle_path)
        forecaster.meta.update(run_id=result.run_id, metrics=result.metrics, wall_time_s=result.wall_time_s)
        return forecaster

    # -- queries ---------------------------------------------------------------------------

    def forecast(
        self,
        history: Frame,
        future: Frame | None = None,
        *,
        quantiles=DEFAULT_LEVELS,
        num_samples: int = NUM_SAMPLES,
        seed: int = 0,
    ) -> ForecastResult:
        """Forecast the next ``horizon`` steps after ``history``.

        ``future`` holds the known-future and intervention values over the horizon (needed when
        the task has such columns). Quantiles come from ``num_samples`` joint sample paths.
        """
        return query_forecast.forecast(self.model, self.spec, self.scaler, history, future, quantiles=quantiles,
                                       num_samples=num_samples, seed=seed, range_margin=self.range_margin)

    def zero_shot(
        self,
        history: Frame,
        target: str | list[str],
        *,
        timestamp: str = "timestamp",
        series_id: str | None = None,
        horizon: int | None = None,
        freq: str | None = None,
        quantiles=DEFAULT_LEVELS,
        num_samples: int = NUM_SAMPLES,
        seed: int = 0,
    ) -> ForecastResult:
        """Forecast any ``target`` columns of ``history`` with a pretrained model, no task file:
        each column on its own, a short history padded as missing, a horizon beyond the model's
        rolled forward on the median (:mod:`tsloop.query.zero_shot`)."""
        return query_zero_shot.zero_shot_forecast(
            self.model, history, target, timestamp=timestamp, series_id=series_id, horizon=horizon, freq=freq,
            quantiles=quantiles, num_samples=num_samples, seed=seed, range_margin=self.range_margin)

    def whatif(
        self,
        history: Frame,
        plans: Mapping[str, Frame],
        *,
        future: Frame | None = None,
        objective: str | None = None,
        num_samples: int = NUM_SAMPLES,
        seed: int = 0,
        interval: float = 0.9,
    ) -> WhatIfResult:
        """Roll each plan of interventions forward with the *same* random draws and compare.

        Each plan is a frame of the horizon's timestamps (and series ids) with the intervention
        columns; known-future columns come from the plan if present, else from ``future``.
        ``objective`` is ``AGG:CHANNEL[:min|max]`` (default: mean of the first target, lower is better).
        """
        return query_whatif.whatif(self.model, self.spec, self.scaler, history, plans, future=future,
                                   objective=objective, num_samples=num_samples, seed=seed, interval=interval,
                                   range_margin=self.range_margin)

    def forecast_frame(self, frame: pd.DataFrame, num_samples: int = NUM_SAMPLES, seed: int = 0) -> pd.DataFrame:
        """Forecast from one frame holding history followed by ``horizon`` future rows per series
        (the MLflow pyfunc input); returns :meth:`ForecastResult.to_frame`."""
        history, future = query_forecast.split_frame(self.spec, frame)
        return self.forecast(history, future, num_samples=num_samples, seed=seed).to_frame()
