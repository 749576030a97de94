"""Least-squares start for the direct linear path, before the joint training begins.

The direct path (``tsloop/model/linear_path.py``) is linear in its weights, so its best fit to the
training windows is a convex least-squares problem. Trained jointly from zero with the looped model,
by Adam on the pinball loss over a step budget, it stays far from that optimum. On EPF NP (seed 0,
2,000 steps, with the monomial terms of the known inputs) the jointly trained path alone scores
0.236 test MSE and the whole model 0.210, while this least-squares fit of the same path scores
0.189 on its own (ridge on the same features: 0.184). So the path is first fitted alone, by
L-BFGS on the squared error of the training windows, in the units the model trains in. Training
then either starts from there (``direct_path="prefit"``: on NP it drifted back, 0.216) or keeps it
(``"fixed"``: 0.195; the default ``"auto"`` is ``"fixed"`` except for models with interventions,
``direct_path_mode``).
``fit()`` calls ``prefit_direct_path(model, training_batches(task, seed=...))`` before the first step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import torch
from torch.utils.data import DataLoader, Subset

PREFIT_ITERATIONS = 200  # L-BFGS iterations (the problem is convex and small)
PREFIT_WINDOWS = 20_000  # at most this many training windows
BATCH = 4096


def direct_path_mode(setting: str, model_config) -> str:
    """What ``TrainConfig.direct_path`` means for a model: ``auto`` is ``fixed``, except for a model
    with interventions, whose path trains jointly. On the plant what-if suite (confounding 1, seed 0)
    the fixed path with the cubic known terms made every what-if score worse: the confounded
    trade-off pair ranked 0.583 instead of 0.815, counterfactual CRPS / oracle 3.13 instead of 1.87."""
    if setting != "auto":
        return setting
    return "joint" if model_config.intervention > 0 else "fixed"


def training_batches(task, max_windows: int = PREFIT_WINDOWS, seed: int = 0) -> Iterable[dict[str, torch.Tensor]]:
    """Batches of the training windows of ``task``: at most ``max_windows`` of them, drawn at random
    (``seed``) from a task in memory, or every k-th row of a streamed one."""
    return window_batches(task, "train", max_windows, seed)


def window_batches(task, part: str, max_windows: int = PREFIT_WINDOWS, seed: int = 0) -> Iterable[dict[str, torch.Tensor]]:
    """Batches of the windows of one part of ``task`` ('train', 'val', 'test'), drawn as
    :func:`training_batches` draws the training ones."""
    if getattr(task, "streamed", False):
        from tsloop.train.stream_datamodule import StreamEpochWindows

        count = sum(StreamEpochWindows(task, part, 1, BATCH, shuffle=False).windows)
        stride = max(1, math.ceil(count / max_windows))
        return StreamEpochWindows(task, part, stride, BATCH, shuffle=False)
    data = task.dataset(part)
    if len(data) > max_windows:
        pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:max_windows]
        data = Subset(data, sorted(pick.tolist()))
    return DataLoader(data, batch_size=BATCH, shuffle=False)


def prefit_direct_path(model, batches: Iterable[dict[str, torch.Tensor]], iterations: int = PREFIT_ITERATIONS,
                       residual: bool = False) -> dict[str, float] | None:
    """Fit ``model.linear_path`` alone to the windows of ``batches`` by least squares, leaving out any
    window with a non-finite value (training names those itself); returns the mean squared error
    before and after, the windows used, whether it was a residual fit and the seconds the fit took (reading
    the windows included), or None when the model has no direct path or there is nothing to fit.

    ``residual``: fit the path to what the rest of the model leaves, target minus its median forecast
    without the path (:func:`base_forecast`), so that the path adds to a model that already
    forecasts (one adapted from a pretrained model) instead of counting the forecast twice."""
    path = model.linear_path
    if path is None:
        return None
    start = time.perf_counter()
    was_training = model.training
    model.eval()  # the median forecast of a residual fit is the one inference gives
    try:
        # a DataLoader draws its base seed from the global generator: fork it, so that training after the
        # prefit draws what it would have drawn without it, whatever the batches come from
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            data = [_finite(model.normalise(b)[0]) for b in batches]
            data = [b for b in data if b is not None]
            if residual:
                data = [{**b, "future_target": b["future_target"] - base_forecast(model, b)} for b in data]
        count = sum(float(b["future_target_mask"].sum()) for b in data)
        if count == 0:
            return None
        return {**_least_squares(path, data, count, iterations), "windows": sum(len(b["future_target"]) for b in data),
                "residual": residual, "seconds": time.perf_counter() - start}
    finally:
        model.train(was_training)


def _least_squares(path, data: list[dict[str, torch.Tensor]], count: float, iterations: int) -> dict[str, float]:
    """L-BFGS on the path's mean squared error over ``data``: that error before and after."""
    params = [p for p in path.parameters() if p.requires_grad]
    optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=iterations, history_size=20,
                                  line_search_fn="strong_wolfe")

    def mse() -> torch.Tensor:
        return sum((((path(b) - b["future_target"]) ** 2) * b["future_target_mask"]).sum() for b in data) / count

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = mse()
        loss.backward()
        return loss

    with torch.no_grad():
        before = float(mse())
    optimizer.step(closure)
    with torch.no_grad():
        after = float(mse())
    return {"before": before, "after": after}


def base_forecast(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The model's median forecast without its direct path, (B, H, Ct) in the instance units of a
    normalised ``batch``: encode, imagine under the batch's future inputs, decode, as ``forward`` does."""
    run = model.new_run(batch["past_target"].shape[0])
    h = model.imagine(model.encode(batch, run), batch, run)
    q, _ = model.decode(h)
    return q[:, :model.cfg.horizon, :, model.cfg.median_index]


def _finite(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """The windows of ``batch`` whose every float value is finite, or None when none is."""
    keep = torch.ones(len(batch["future_target"]), dtype=torch.bool)
    for value in batch.values():
        if value.is_floating_point() and value.ndim >= 1 and len(value) == len(keep):
            keep &= torch.isfinite(value.reshape(len(value), -1)).all(1)
    if not keep.any():
        return None
    return batch if keep.all() else {k: v[keep] if v.ndim >= 1 and len(v) == len(keep) else v for k, v in batch.items()}
