"""Forecast queries as functions over (model, spec, scaler): frames in, sample paths out.

Example::

    >>> from tsloop.query.forecast import noise
    >>> noise(batch_size=2, num_samples=3, horizon=4, channels=5, seed=0).shape
    torch.Size([3, 2, 4, 5])
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tsloop.data.readers import Frame
from tsloop.data.scaling import StandardScaler
from tsloop.data.spec import TaskSpec
from tsloop.data.windows import make_predict_batch
from tsloop.model.sampling import sample_paths
from tsloop.query.loading import RANGE_MARGIN
from tsloop.query.results import DEFAULT_LEVELS, NUM_SAMPLES, ForecastResult


def noise(batch_size: int, num_samples: int, horizon: int, channels: int, seed: int) -> torch.Tensor:
    """Every random draw of a query, from its seed alone: the same seed gives every plan the
    same draws (common random numbers), and a plan equal to the logged future the forecast."""
    shape = (num_samples, batch_size, horizon, channels)
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def forecast(
    model,
    spec: TaskSpec,
    scaler: StandardScaler,
    history: Frame,
    future: Frame | None = None,
    *,
    quantiles=DEFAULT_LEVELS,
    num_samples: int = NUM_SAMPLES,
    seed: int = 0,
    range_margin: float | None = RANGE_MARGIN,
) -> ForecastResult:
    """Sample paths of the next ``horizon`` steps after ``history``, on the original scale.

    ``range_margin``: each target is clipped to its training range widened by this many range
    widths on each side (None: no clipping), so a rare sample cannot leave the plausible values.
    """
    request = make_predict_batch(spec, scaler, history, future)
    batch = request.batch
    cfg = model.cfg
    draws = noise(batch["past_target"].shape[0], num_samples, spec.horizon, cfg.target + cfg.event, seed)
    paths = sample_paths(model, batch, num_samples, noise=draws)
    index = batch["series_index"].numpy()
    target = np.moveaxis(paths.target.numpy(), 1, 0)  # (B, S, H, Ct)
    target = scaler.inverse_transform(target, index, role="target")
    if range_margin is not None:
        low, high = scaler.plausible_range(index, "target", range_margin)  # (B, Ct)
        target = np.clip(target, low[:, None, None], high[:, None, None])
    return ForecastResult(
        series_ids=request.series_ids,
        timestamps=request.timestamps(),
        targets=list(spec.target),
        events=list(spec.event),
        samples=np.moveaxis(target, 0, 1),
        event_samples=paths.event.numpy(),
        event_prob=paths.event_prob.numpy(),
        levels=tuple(quantiles),
        control_support=_numpy(getattr(paths, "control_support", None)),  # only a model with a policy head has it
        control_mask=batch["future_control_mask"].numpy() > 0,
    )


def _numpy(value) -> np.ndarray | None:
    return None if value is None else np.asarray(value.detach().cpu() if torch.is_tensor(value) else value)


def split_frame(spec: TaskSpec, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(history, future) of one frame holding history followed by ``horizon`` future rows per
    series (the MLflow pyfunc input); future is None when the task has no future inputs."""
    key = spec.series_id
    groups = [g for _, g in frame.groupby(key, sort=False)] if key else [frame]
    history = pd.concat([g.iloc[: -spec.horizon] for g in groups])
    future = pd.concat([g.iloc[-spec.horizon :] for g in groups])
    return history, future if (spec.known_future or spec.intervention) else None
