"""The start of a model adapted from a pretrained one (tsloop/train/adapt_start.py): the pretrained
forecast or a fresh head, whichever scores better on the task's validation windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import PRETRAIN_HORIZON
from tsloop.bundle import Bundle
from tsloop.data.spec import TaskSpec
from tsloop.data.task import load_task
from tsloop.model import WorldModel
from tsloop.train import adapt_start
from tsloop.train.adapt_start import adapted_start, fresh_head, median_mse
from tsloop.train.init import init_config, initialise
from tsloop.train.prefit import window_batches


@pytest.fixture(scope="module")
def task():
    n = 500
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=n, freq="h"),
                          "cpu": 50 + 10 * np.sin(np.arange(n) / 4) + rng.normal(size=n)})
    spec = TaskSpec(target=["cpu"], freq="1h", context_length=32, horizon=PRETRAIN_HORIZON, timestamp="ts")
    return load_task(spec, frame=frame)


def scrambled(weight: torch.Tensor) -> torch.Tensor:
    """A head weight plus large noise: a forecast that swings with the latent state in a way no
    linear direct path can cancel (a constant offset it could)."""
    return weight + 3.0 * torch.randn(weight.shape, generator=torch.Generator().manual_seed(5))


def adapted(pretrained, task, scramble: bool = False):
    """A model initialised from the pretrained one; ``scramble``: with a pretrained forecast far off."""
    model = WorldModel(init_config(str(pretrained.model), task.spec))
    report = initialise(model, str(pretrained.model))
    if scramble:
        with torch.no_grad():
            model.quantile_head.proj.weight.copy_(scrambled(model.quantile_head.proj.weight))
    return model, report


def held(task):
    return list(window_batches(task, "val", max_windows=adapt_start.COMPARE_WINDOWS, seed=0))


def test_a_pretrained_forecast_far_off_gives_way_to_a_fresh_head_and_the_report_says_so(pretrained, task):
    model, report = adapted(pretrained, task, scramble=True)
    fit = adapted_start(model, task, seed=0, report=report)
    assert fit["start"] == "fresh head" and fit["compare_part"] == "val" and not fit["residual"]
    scores = fit["compare_mse"]
    assert scores["fresh head"] < scores["pretrained forecast"]
    for name, value in fresh_head(model.cfg, 0).items():  # the head a fresh model of this seed would have
        assert torch.equal(model.quantile_head.state_dict()[name], value), name
    assert median_mse(model, held(task)) == pytest.approx(scores["fresh head"], rel=1e-6)  # what it kept is what it scored
    fresh = {f.split(" ")[0] for f in report.fresh}
    assert {"quantile_head.proj.weight", "quantile_head.proj.bias"} <= fresh
    assert not any(n.startswith("quantile_head.") for n in report.copied + [a.split(" ")[0] for a in report.aligned])


def test_when_the_fresh_head_is_the_worse_start_the_pretrained_forecast_and_its_residual_path_stay(pretrained, task,
                                                                                                  monkeypatch):
    model, report = adapted(pretrained, task)
    source = Bundle.load(pretrained.model).state_dict
    real = adapt_start.fresh_head

    def far_off(cfg, seed):  # a fresh head whose forecast is far off
        head = real(cfg, seed)
        return {**head, "proj.weight": scrambled(head["proj.weight"])}

    monkeypatch.setattr(adapt_start, "fresh_head", far_off)
    fit = adapted_start(model, task, seed=0, report=report)
    assert fit["start"] == "pretrained forecast" and fit["residual"]
    assert fit["compare_mse"]["pretrained forecast"] < fit["compare_mse"]["fresh head"]
    assert torch.equal(model.quantile_head.proj.weight, source["quantile_head.proj.weight"])
    assert median_mse(model, held(task)) == pytest.approx(fit["compare_mse"]["pretrained forecast"], rel=1e-6)
    assert "quantile_head.proj.weight" in report.copied


def test_the_choice_leaves_the_global_random_stream_as_it_found_it(pretrained, task):
    model, report = adapted(pretrained, task)
    before = torch.get_rng_state()
    adapted_start(model, task, seed=3, report=report)
    assert torch.equal(before, torch.get_rng_state())
