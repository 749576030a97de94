"""The Python API: fit on a frame, forecast, and ask what-if questions.

Example::

    from tsloop import Forecaster
    from tsloop.data.spec import TaskSpec

    spec = TaskSpec(target=["latency_p95"], intervention=["replicas"], freq="5min",
                    context_length=96, horizon=24, format="long", series_id="series")
    fc = Forecaster.fit(frame, spec, preset="small")
    result = fc.forecast(history, future)          # quantiles and event probabilities
    answer = fc.whatif(history, {"keep": plan_a, "scale_up": plan_b},
                       objective="mean:latency_p95")
    print(answer.summary())
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tsloop.bundle import Bundle
from tsloop.data.readers import Frame
from tsloop.data.scaling import StandardScaler
from tsloop.data.spec import TaskSpec
from tsloop.data.windows import make_predict_batch
from tsloop.errors import CheckpointError, DataError, PlanError
from tsloop.query.objective import Objective, pairwise_effects
from tsloop.query.results import DEFAULT_LEVELS, ForecastResult, WhatIfResult


class Forecaster:
    """A trained world model with the spec and scaler of its training data."""

    range_margin: float | None = 1.0  # samples stay within the train range widened by this many widths

    def __init__(self, model, spec: TaskSpec, scaler: StandardScaler, meta: dict | None = None):
        self.model = model.eval()
        self.spec = spec
        self.scaler = scaler
        self.meta = meta or {}

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> "Forecaster":
        from tsloop.model.config import ModelConfig
        from tsloop.model.world_model import WorldModel

        model = WorldModel(ModelConfig.from_dict(bundle.model_config))
        try:
            model.load_state_dict(bundle.state_dict)
        except RuntimeError as err:
            raise CheckpointError(
                f"the model weights do not match their configuration ({str(err).splitlines()[0]}); "
                "the file was probably assembled from another run"
            ) from None
        return cls(model, TaskSpec.from_dict(bundle.spec), StandardScaler.from_dict(bundle.scaler), bundle.meta)

    @classmethod
    def from_bundle_path(cls, path: str | Path) -> "Forecaster":
        return cls.from_bundle(Bundle.load(path))

    @classmethod
    def load(cls, ref: str | Path) -> "Forecaster":
        """From a model file (``model.pt``), a training output folder, or an MLflow run id / ``runs:/ID``."""
        path = Path(ref)
        if path.is_dir():
            path = path / "model.pt"
        if path.exists() or str(ref).endswith(".pt"):
            return cls.from_bundle_path(path)
        from tsloop.runs import download_model

        return cls.from_bundle_path(download_model(str(ref)))

    def save(self, path: str | Path) -> Path:
        return Bundle(
            model_config=self.model.cfg.to_dict(),
            spec=self.spec.to_dict(),
            scaler=self.scaler.to_dict(),
            state_dict=self.model.state_dict(),
            meta=self.meta,
        ).save(path)

    @classmethod
    def fit(
        cls,
        data: Frame | str | Path,
        spec: TaskSpec | str | Path,
        *,
        preset: str = "small",
        model_options: dict | None = None,
        train_options: dict | None = None,
        out_dir: str | Path = "outputs/fit",
        experiment: str = "tsloop",
    ) -> "Forecaster":
        """Train on ``data`` (a frame, or None to read the spec's file) and return the fitted forecaster.

        The MLflow run id and metrics are on ``forecaster.meta``.
        """
        from tsloop.data.task import load_task
        from tsloop.model.config import ModelConfig
        from tsloop.train.config import TrainConfig
        from tsloop.train.fit import fit

        task = load_task(spec, frame=None if isinstance(data, (str, Path)) else data)
        s = task.spec
        cfg = ModelConfig.preset(preset, dims=s.dims, context_length=s.context_length, horizon=s.horizon)
        if model_options:
            cfg = ModelConfig.from_dict({**cfg.to_dict(), **model_options})
        result = fit(task, cfg, TrainConfig.from_dict(train_options or {}), out_dir=out_dir, experiment=experiment)
        forecaster = cls.from_bundle_path(result.bundle_path)
        forecaster.meta.update(run_id=result.run_id, metrics=result.metrics, wall_time_s=result.wall_time_s)
        return forecaster

    # -- queries ---------------------------------------------------------------------------

    def _noise(self, batch_size: int, num_samples: int, seed: int) -> torch.Tensor:
        """Every random draw of a query, from its seed alone: the same seed gives every plan the
        same draws (common random numbers), and a plan equal to the logged future the forecast."""
        cfg = self.model.cfg
        shape = (num_samples, batch_size, self.spec.horizon, cfg.target + cfg.event)
        return torch.randn(shape, generator=torch.Generator().manual_seed(seed))

    def _run(self, history: Frame, future: Frame | None, num_samples: int, seed: int, levels) -> ForecastResult:
        from tsloop.model.sampling import sample_paths

        request = make_predict_batch(self.spec, self.scaler, history, future)
        batch = request.batch
        noise = self._noise(batch["past_target"].shape[0], num_samples, seed)
        paths = sample_paths(self.model, batch, num_samples, noise=noise)
        index = batch["series_index"].numpy()
        target = np.moveaxis(paths.target.numpy(), 1, 0)  # (B, S, H, Ct)
        target = self.scaler.inverse_transform(target, index, role="target")
        if self.range_margin is not None:
            low, high = self.scaler.plausible_range(index, "target", self.range_margin)  # (B, Ct)
            target = np.clip(target, low[:, None, None], high[:, None, None])
        target = np.moveaxis(target, 0, 1)
        return ForecastResult(
            series_ids=request.series_ids,
            timestamps=request.timestamps(),
            targets=list(self.spec.target),
            events=list(self.spec.event),
            samples=target,
            event_samples=paths.event.numpy(),
            event_prob=paths.event_prob.numpy(),
            levels=tuple(levels),
        )

    def forecast(
        self,
        history: Frame,
        future: Frame | None = None,
        *,
        quantiles=DEFAULT_LEVELS,
        num_samples: int = 200,
        seed: int = 0,
    ) -> ForecastResult:
        """Forecast the next ``horizon`` steps after ``history``.

        ``future`` holds the known-future and intervention values over the horizon (needed when
        the task has such columns). Quantiles come from ``num_samples`` joint sample paths.
        """
        return self._run(history, future, num_samples, seed, quantiles)

    def whatif(
        self,
        history: Frame,
        plans: Mapping[str, Frame],
        *,
        future: Frame | None = None,
        objective: str | None = None,
        num_samples: int = 200,
        seed: int = 0,
        interval: float = 0.9,
    ) -> WhatIfResult:
        """Roll each plan of interventions forward with the *same* random draws and compare.

        Each plan is a frame of the horizon's timestamps (and series ids) with the intervention
        columns; known-future columns come from the plan if present, else from ``future``.
        ``objective`` is ``AGG:CHANNEL[:min|max]`` (default: mean of the first target, lower is better).
        """
        if len(plans) < 2:
            raise PlanError(f"a what-if compares at least two plans; got {len(plans)}: {list(plans)}")
        obj = Objective.parse(objective or f"mean:{self.spec.target[0]}", self.spec.target, self.spec.event)
        forecasts = {}
        for name, plan in plans.items():  # one seed for all plans: common random numbers
            merged = self._plan_frame(name, plan, future)
            try:
                forecasts[name] = self._run(history, merged, num_samples, seed, DEFAULT_LEVELS)
            except (DataError, PlanError) as err:  # name the plan: the data layer cannot
                raise PlanError(f"plan {name!r}: {err}") from None
        values = {
            name: np.stack([obj.evaluate(f.paths(b)) for b in range(len(f.series_ids))], axis=1)
            for name, f in forecasts.items()
        }
        first = next(iter(forecasts.values()))
        effects = {
            sid: pairwise_effects({n: v[:, b] for n, v in values.items()}, obj, interval)
            for b, sid in enumerate(first.series_ids)
        }
        return WhatIfResult(forecasts, obj, values, effects)

    def _plan_frame(self, name: str, plan: Frame, future: Frame | None) -> pd.DataFrame:
        """The plan's columns over the future frame's; unknown columns are rejected."""
        plan = plan.to_pandas() if hasattr(plan, "to_pandas") else pd.DataFrame(plan)
        keys = [self.spec.timestamp] + ([self.spec.series_id] if self.spec.series_id else [])
        allowed = set(keys) | set(self.spec.intervention) | set(self.spec.known_future)
        unknown = [c for c in plan.columns if c not in allowed]
        if unknown:
            from tsloop.data.spec import did_you_mean

            raise PlanError(
                f"plan {name!r} has column(s) {unknown} that are not intervention or known-future channels "
                f"of this model (interventions: {self.spec.intervention}).{did_you_mean(unknown[0], sorted(allowed))} "
                "Remove or rename them."
            )
        missing = [c for c in self.spec.intervention if c not in plan.columns]
        if missing:
            raise PlanError(
                f"plan {name!r} lacks intervention column(s) {missing}; a plan sets every intervention "
                f"channel ({self.spec.intervention}) at each of the next {self.spec.horizon} steps."
            )
        if future is None:
            return plan
        base = future.to_pandas() if hasattr(future, "to_pandas") else pd.DataFrame(future)
        base = base.drop(columns=[c for c in plan.columns if c not in keys], errors="ignore")
        return base.merge(plan, on=keys, how="right")

    def forecast_frame(self, frame: pd.DataFrame, num_samples: int = 200, seed: int = 0) -> pd.DataFrame:
        """Forecast from one frame holding history followed by ``horizon`` future rows per series
        (the MLflow pyfunc input); returns :meth:`ForecastResult.to_frame`."""
        key = self.spec.series_id
        groups = [g for _, g in frame.groupby(key, sort=False)] if key else [frame]
        history = pd.concat([g.iloc[: -self.spec.horizon] for g in groups])
        future = pd.concat([g.iloc[-self.spec.horizon :] for g in groups])
        needs_future = bool(self.spec.known_future or self.spec.intervention)
        return self.forecast(history, future if needs_future else None, num_samples=num_samples, seed=seed).to_frame()
