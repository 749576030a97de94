"""Where a model adapted from a pretrained one starts: the pretrained forecast, or a fresh output head.

Adapted from the pretrained model (``TrainConfig.init``), the model first forecasts as the pretrained
one did, and the direct path is fitted by least squares to what that forecast leaves
(``prefit_direct_path(residual=True)``). Where the pretrained forecast is off for a task, that start
is worse than a fresh model's, and a step budget that moves the rest little need not recover it.

So :func:`adapted_start` tries both starts and keeps the one whose median forecast has the lower mean
squared error on the task's validation windows (training windows when the task has none):

- ``pretrained forecast``: the pretrained head, the path fitted to what its forecast leaves;
- ``fresh head``: the quantile head as a fresh model's (the copied looped core, embeddings and
  coda stay), the path fitted to the target as a from-scratch model's is.

Either way the looped core starts from its pretrained weights. The choice, both scores and the split
they were measured on go into the training record (``FitResult.extra['prefit']``).

In the fine-tuning suite (2026-12-08, seeds 0 and 1, nine tasks) the fresh head was kept in 16 of 18
runs, the pretrained forecast on CityLearn (both seeds) and EPF PJM (seed 0); the two validation
scores differed by 0.04-5.7 %. Where they are that close the choice is near a coin flip: on EPF NP
validation preferred the fresh head (0.0334 against 0.0338) and, before training, the test part
the pretrained forecast (0.187 against 0.189).
"""

from __future__ import annotations

import copy
import math
import time

import torch

from tsloop.model.heads import QuantileHead
from tsloop.train.prefit import base_forecast, prefit_direct_path, window_batches, _finite

STARTS = ("pretrained forecast", "fresh head")
COMPARE_WINDOWS = 5_000  # at most this many validation windows score each start


def adapted_start(model, task, seed: int = 0, report=None) -> dict | None:
    """Fit the direct path of ``model`` (already initialised from a pretrained one) from each start,
    keep the start whose median forecast has the lower mean squared error on ``task``'s validation windows,
    and return the kept fit (``prefit_direct_path``'s dict, its ``seconds`` those of both fits and
    scores) with ``start``, ``compare_mse`` (start -> score) and ``compare_part``; None when the model
    has no direct path. ``report`` (the
    ``InitReport``): a fresh head is moved from its copied weights to its fresh ones."""
    if model.linear_path is None:
        return None
    began = time.perf_counter()
    # iterating a DataLoader draws its base seed from the global generator: fork it, so that training
    # afterwards draws what it would have drawn without the choice
    with torch.random.fork_rng(devices=[]):
        train = list(window_batches(task, "train", seed=seed))
        part, held = "val", list(window_batches(task, "val", max_windows=COMPARE_WINDOWS, seed=seed))
    if not any(len(b["future_target"]) for b in held):
        part, held = "train", train
    pretrained_head = copy.deepcopy(model.quantile_head.state_dict())
    fits, states, scores = {}, {}, {}
    for start in STARTS:
        if start == "fresh head":
            model.quantile_head.load_state_dict(fresh_head(model.cfg, seed))
        else:
            model.quantile_head.load_state_dict(pretrained_head)
        fits[start] = prefit_direct_path(model, train, residual=start == "pretrained forecast")
        if fits[start] is None:  # nothing finite to fit: the pretrained start, untouched
            model.quantile_head.load_state_dict(pretrained_head)
            return None
        scores[start] = median_mse(model, held)
        states[start] = (copy.deepcopy(model.quantile_head.state_dict()),
                         copy.deepcopy(model.linear_path.state_dict()))
    # a tie keeps the pretrained forecast; a start with no finite score (nan) never wins
    kept = min(STARTS, key=lambda s: (scores[s] if math.isfinite(scores[s]) else math.inf, STARTS.index(s)))
    head, path = states[kept]
    model.quantile_head.load_state_dict(head)
    model.linear_path.load_state_dict(path)
    if kept == "fresh head" and report is not None:
        _mark_fresh(report, [f"quantile_head.{name}" for name in head])
    return {**fits[kept], "start": kept, "compare_mse": scores, "compare_part": part,
            "seconds": time.perf_counter() - began}


def fresh_head(cfg, seed: int) -> dict[str, torch.Tensor]:
    """The weights of a fresh model's quantile head, drawn from ``seed`` without touching the global
    generator."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return QuantileHead(cfg.d_model, cfg.patch_len, cfg.target, cfg.quantiles).state_dict()


def median_mse(model, batches) -> float:
    """Mean squared error of the model's median forecast, direct path included, over the finite
    windows of ``batches`` in the task's (scaled) units (nan when there is none)."""
    was_training = model.training
    model.eval()
    err, count = 0.0, 0.0
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            for raw in batches:
                batch = _finite(model.normalise(raw)[0])
                if batch is None:
                    continue
                median = base_forecast(model, batch) + model.linear_path(batch)
                mask = batch["future_target_mask"]
                # back to the task's units, as val/mse and the benchmarks score: in instance units a
                # window with a flat context would outweigh the rest
                miss = (median - batch["future_target"]) * batch["target_scale"]
                err += float((miss ** 2 * mask).sum())
                count += float(mask.sum())
    finally:
        model.train(was_training)
    return err / count if count else float("nan")


def _mark_fresh(report, names: list[str]) -> None:
    """Record in ``report`` that ``names`` start fresh: out of its copied and fitted lists."""
    why = "fresh: the pretrained forecast scored worse on validation"
    report.copied = [n for n in report.copied if n not in names]
    report.aligned = [a for a in report.aligned if a.split(" ")[0] not in names]
    report.fresh = [f for f in report.fresh if f.split(" ")[0] not in names] + [f"{n} ({why})" for n in names]
