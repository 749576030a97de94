"""The least-squares start of the direct path (tsloop/train/prefit.py)."""

from __future__ import annotations

import pytest
import torch

from tsloop.data.batch import ChannelDims
from tsloop.model import ModelConfig, WorldModel
from tsloop.errors import SpecError
from tsloop.train.config import TrainConfig
from tsloop.train.prefit import base_forecast, direct_path_mode, prefit_direct_path, training_batches
from tests.model.conftest import CONTEXT, HORIZON, make_batch

DIMS = ChannelDims(target=1, known_future=2)


def windows(n: int = 256) -> list[dict[str, torch.Tensor]]:
    # two batches, so that the fit sums over batches
    """Windows whose horizon, in units of the context's mean and spread, is a fixed linear map of the
    known row plus 0.5 x its first channel squared in task units: a direct path with monomials can fit them exactly."""
    batch = make_batch(DIMS, batch=n, missing=0.0, seed=4)
    past = batch["past_target"]
    mean, std = past.mean(1, keepdim=True), past.std(1, unbiased=False, keepdim=True).clamp_min(0.1)
    known = batch["future_known"]
    inst = known @ torch.tensor([[1.0], [-2.0]]) + 0.5 * known[..., :1] ** 2 / std
    batch["future_target"] = mean + std * inst
    return [{k: v[: n // 2] for k, v in batch.items()}, {k: v[n // 2 :] for k, v in batch.items()}]


def model(**overrides) -> WorldModel:  # the direct path reads the known row, its monomials and the context
    torch.manual_seed(0)
    cfg = ModelConfig.preset("tiny", dims=DIMS, context_length=CONTEXT, horizon=HORIZON,
                             linear_known_full=False, linear_context_covariates="none", **overrides)
    return WorldModel(cfg)


def test_the_prefit_finds_the_least_squares_path_and_touches_nothing_else():
    m = model(linear_known_poly=2)
    others = {k: v.clone() for k, v in m.state_dict().items() if not k.startswith("linear_path.")}
    fit = prefit_direct_path(m, windows())
    assert fit["before"] > 1.0 and fit["after"] < 1e-4 * fit["before"] and fit["seconds"] > 0
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in others.items())
    assert torch.allclose(m.linear_path.known[:, :, 0], torch.tensor([1.0, -2.0]).expand(HORIZON, 2), atol=1e-2)


def test_without_the_monomials_the_prefit_is_the_best_linear_fit_not_an_exact_one():
    fit = prefit_direct_path(model(linear_known_poly=0), windows())
    assert 0.0 < fit["after"] < fit["before"] and fit["after"] > 1e-2


def test_a_window_with_a_non_finite_value_is_left_out_and_a_model_without_the_path_is_left_alone():
    clean, poisoned = model(linear_known_poly=2), model(linear_known_poly=2)
    data = windows()
    bad = [dict(b) for b in data]
    bad[0]["past_target"] = bad[0]["past_target"].clone()
    bad[0]["past_target"][5, 3, 0] = float("inf")
    data = [{k: v[torch.arange(len(v)) != 5] for k, v in data[0].items()}, data[1]]
    assert prefit_direct_path(poisoned, bad)["windows"] == 255
    prefit_direct_path(clean, data)
    assert torch.allclose(clean.linear_path.known, poisoned.linear_path.known, atol=1e-5)
    assert prefit_direct_path(model(linear_path=False), windows()) is None


def whole_model_mse(m: WorldModel, data: list[dict[str, torch.Tensor]]) -> float:
    """Squared error of the model's median forecast, path included, in instance units."""
    m.eval()
    with torch.no_grad():
        rows = [m.normalise(b)[0] for b in data]
        err = sum(float(((base_forecast(m, b) + m.linear_path(b) - b["future_target"]) ** 2).sum()) for b in rows)
    return err / sum(b["future_target"].numel() for b in rows)


def test_a_residual_prefit_fits_the_path_to_what_the_rest_of_the_model_leaves():
    data, fits, whole = windows(), {}, {}
    for residual in (False, True):
        m = model(linear_known_poly=2)
        with torch.no_grad():
            m.quantile_head.proj.weight.mul_(20.0)  # a rest of the model that already forecasts far from zero
        fits[residual] = prefit_direct_path(m, data, residual=residual)
        whole[residual] = whole_model_mse(m, data)
    assert fits[False]["after"] < 1e-4 * fits[False]["before"]  # the path alone fits the windows exactly,
    assert whole[False] > 100 * fits[False]["after"]  # and added to the rest of the model it counts twice
    assert whole[True] == pytest.approx(fits[True]["after"], rel=1e-4)  # the residual fit scores the whole model
    # the best path for the whole model; the one fitted alone is only one of the paths it could pick
    assert whole[True] < 0.75 * whole[False] and fits[True]["after"] < fits[True]["before"]


def test_at_most_the_given_number_of_training_windows_is_drawn_reproducibly(tiny_task):
    from tsloop.data.task import load_task

    task = load_task(tiny_task.path)
    every = sum(len(b["future_target"]) for b in training_batches(task))
    assert every == len(task.dataset("train")) > 100
    draws = [torch.cat([b["future_target"] for b in training_batches(task, max_windows=100, seed=s)]) for s in (1, 1, 2)]
    assert len(draws[0]) == 100 and torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])


def test_training_with_a_fixed_direct_path_keeps_its_least_squares_fit_and_prefit_trains_on_from_it(tiny_task, tmp_path):
    from tests.conftest import TRAIN_FLAGS
    from tsloop.cli.main import main
    from tsloop.data.task import load_task
    from tsloop.forecaster import Forecaster

    paths = {}
    for mode in ("fixed", "prefit"):
        out = tmp_path / mode
        assert main(["train", "--task", str(tiny_task.path), "--out", str(out), *TRAIN_FLAGS, "--direct-path", mode]) == 0
        paths[mode] = Forecaster.load(out / "model.pt").model.linear_path.state_dict()
    fixed = Forecaster.load(tmp_path / "fixed" / "model.pt").model
    fresh = WorldModel(fixed.cfg)
    prefit_direct_path(fresh, training_batches(load_task(tiny_task.path)))
    for name, value in fresh.linear_path.state_dict().items():
        assert value.abs().sum() > 0, name
        assert torch.allclose(paths["fixed"][name], value, atol=1e-6), name
    assert any(not torch.allclose(paths["prefit"][k], v, atol=1e-6) for k, v in paths["fixed"].items())


def test_auto_fixes_the_path_of_a_forecasting_model_and_trains_a_what_if_model_s_jointly():
    forecast = ModelConfig.preset("tiny", dims=DIMS, context_length=CONTEXT, horizon=HORIZON)
    whatif = ModelConfig.preset("tiny", dims=ChannelDims(target=1, intervention=1), context_length=CONTEXT,
                                horizon=HORIZON)
    assert TrainConfig().direct_path == "auto"
    assert direct_path_mode("auto", forecast) == "fixed" and direct_path_mode("auto", whatif) == "joint"
    assert all(direct_path_mode(m, whatif) == m for m in ("fixed", "prefit", "joint"))
    with pytest.raises(SpecError, match="direct_path must be one of"):
        TrainConfig(direct_path="least-squares")


@pytest.mark.parametrize("task", ["tasks/plant_whatif.yaml", "tasks/tumour.yaml"])
def test_a_shipped_what_if_task_trains_the_direct_path_it_had_before_the_2026_12_07_defaults(task):
    # suite 4 got worse with the fixed path and the cubic terms together, so what-if tasks keep both off
    from tsloop.data.spec import TaskSpec

    spec = TaskSpec.from_yaml(task)
    assert spec.dims.intervention > 0
    cfg = ModelConfig.for_task("small", spec)
    assert cfg.linear_known_poly == 0 and direct_path_mode(TrainConfig().direct_path, cfg) == "joint"
