"""The thin LightningModule (tsloop/train/module.py): its step is the network's loss, and a
validation epoch ends in the scores that select the model. Called without a Trainer; ``log``
is recorded."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from tests.model.conftest import CONTEXT, HORIZON, make_batch
from tsloop.data.batch import ChannelDims
from tsloop.model import ModelConfig
from tsloop.train.config import TrainConfig
from tsloop.train.module import WorldModelModule


def _module(dims: ChannelDims, model: dict | None = None, **train) -> WorldModelModule:
    torch.manual_seed(0)
    cfg = ModelConfig.preset("tiny", dims=dims, context_length=CONTEXT, horizon=HORIZON, **(model or {}))
    module = WorldModelModule(cfg.to_dict(), TrainConfig(**train).to_dict())
    module.logged = {}
    module.log = lambda name, value, **kwargs: module.logged.__setitem__(name, float(torch.as_tensor(value).detach()))
    return module


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_when_a_module_is_built_then_its_configs_are_plain_dicts_and_its_optimizer_reads_them():
    module = _module(ChannelDims(target=1), lr=3e-4)
    assert isinstance(module.hparams["model_config"], dict) and isinstance(module.hparams["train_config"], dict)
    optimizer = module.configure_optimizers()
    assert isinstance(optimizer, torch.optim.AdamW)
    assert {group["lr"] for group in optimizer.param_groups} == {3e-4}


def test_when_a_training_step_runs_then_it_returns_the_networks_own_loss_and_logs_it():
    module = _module(ChannelDims(target=2, event=1))
    batch = make_batch(ChannelDims(target=2, event=1))
    twin = copy.deepcopy(module.model)  # the loss updates running buffers: compare from the same state
    torch.manual_seed(1)
    loss = module.training_step(batch, 0)
    torch.manual_seed(1)
    expected, _ = twin.loss(batch, step=0)
    assert torch.equal(loss, expected)
    assert module.logged["train/loss"] == module.logged["train/step_loss"] == loss.item()


def test_when_a_validation_epoch_ends_then_select_is_crps_plus_event_bce_and_the_buffer_empties():
    dims = ChannelDims(target=2, event=1)
    module = _module(dims).eval()
    with torch.no_grad():
        for seed in (0, 1):
            module.validation_step(make_batch(dims, seed=seed), seed)
        module.on_validation_epoch_end()
    logged = module.logged
    assert {"val/loss", "val/mae", "val/mse", "val/crps", "val/crps_persistence", "val/event_auprc"} <= set(logged)
    assert logged["val/select"] == pytest.approx(logged["val/crps"] + logged["val/event_bce"])
    assert any(name.startswith("diag/") for name in logged)
    assert module._val == {} and module._diag_batch is None


def test_when_only_one_step_conditionals_are_trained_then_validation_scores_them():
    dims = ChannelDims(target=2, intervention=1)
    batch = make_batch(dims)
    for blind_weight, one_step in ((0.0, True), (1.0, False)):
        module = _module(dims, {"rollout": "gcomp", "one_step_weight": 1.0, "blind_weight": blind_weight}).eval()
        with torch.no_grad():
            module.validation_step(batch, 0)
            expected = (module.model.one_step_forecast(batch) if one_step else module.model(batch)).quantiles
            other = (module.model(batch) if one_step else module.model.one_step_forecast(batch)).quantiles
        assert torch.equal(torch.as_tensor(module._val["quantiles"][0]), expected)
        assert not torch.equal(expected, other)
        # persistence on the same footing: the last value each step's forecast has seen (patches of 4)
        last, p = torch.as_tensor(module._val["last"][0]), module.model.cfg.patch_len
        assert torch.equal(last[:, :p], batch["past_target"][:, -1:].expand(-1, p, -1))
        if one_step:
            assert torch.equal(last[:, p:2 * p], batch["future_target"][:, p - 1:p].expand(-1, p, -1))
        else:
            assert torch.equal(last[:, p:2 * p], batch["past_target"][:, -1:].expand(-1, p, -1))


def test_when_a_task_has_only_events_then_select_is_the_event_bce():
    dims = ChannelDims(target=0, event=2)
    module = _module(dims).eval()
    with torch.no_grad():
        module.validation_step(make_batch(dims), 0)
        module.on_validation_epoch_end()
    assert module.logged["val/select"] == pytest.approx(module.logged["val/event_bce"])
    assert all(math.isfinite(v) for v in module.logged.values())  # scores of no target channel are left out


def test_when_no_validation_batch_ran_then_the_epoch_end_logs_nothing():
    module = _module(ChannelDims(target=1))
    module.on_validation_epoch_end()
    assert module.logged == {}


def test_when_the_schedule_is_cosine_then_the_optimizer_steps_its_rate_down_to_the_floor():
    from types import SimpleNamespace

    from tsloop.train.schedule import FLOOR

    module = _module(ChannelDims(target=1), lr=1e-3, lr_schedule="cosine")
    module._trainer = SimpleNamespace(estimated_stepping_batches=40)  # what Lightning's Trainer provides
    wired = module.configure_optimizers()
    optimizer, scheduler = wired["optimizer"], wired["lr_scheduler"]["scheduler"]
    assert wired["lr_scheduler"]["interval"] == "step"
    rates = []
    for _ in range(40):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] < rates[5] and max(rates) == pytest.approx(1e-3)
    assert rates[-1] == pytest.approx(FLOOR * 1e-3, rel=0.05)
