"""Training callbacks (tsloop/train/callbacks.py), called as Lightning calls them, on stand-in
trainers: the divergence guard's diagnosis, and random states carried across a resume."""

from __future__ import annotations

import io
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from tsloop.errors import TrainingDivergedError
from tsloop.train.callbacks import DivergenceGuard, RngState

TRAINER = SimpleNamespace(current_epoch=2, global_step=17)


class _Module(nn.Module):
    """A LightningModule's shape as the guard sees it: parameters, and ``model.diagnostics``."""

    def __init__(self, diagnostics=lambda batch: {"gamma": 0.5}):
        super().__init__()
        self.layer = nn.Linear(2, 1)
        self.model = SimpleNamespace(diagnostics=diagnostics)


def _guard_at(batch: dict, batch_idx: int = 5) -> DivergenceGuard:
    guard = DivergenceGuard()
    guard.on_train_batch_start(TRAINER, None, batch, batch_idx)
    return guard


def test_when_the_loss_is_nan_then_the_guard_names_the_batch_and_the_diagnostics():
    guard = _guard_at({"past_target": torch.ones(2, 3)})
    with pytest.raises(TrainingDivergedError, match=r"epoch 2, batch 5 \(global step 17\): loss became nan") as err:
        guard.on_train_batch_end(TRAINER, _Module(), {"loss": torch.tensor(float("nan"))}, None, 5)
    assert "gamma=0.5" in str(err.value) and "Non-finite inputs in the batch: none" in str(err.value)


def test_when_the_loss_is_finite_then_the_guard_lets_training_go_on():
    _guard_at({}).on_train_batch_end(TRAINER, _Module(), torch.tensor(1.5), None, 5)


def test_when_a_gradient_is_infinite_then_the_guard_names_that_parameter_only():
    module = _Module()
    module.layer.weight.grad = torch.tensor([[1.0, float("inf")]])
    module.layer.bias.grad = torch.zeros(1)
    with pytest.raises(TrainingDivergedError, match=r"non-finite gradients in 1 parameter\(s\): \['layer.weight'\]"):
        _guard_at({}).on_before_optimizer_step(TRAINER, module, None)
    module.layer.weight.grad = torch.zeros(1, 2)
    _guard_at({}).on_before_optimizer_step(TRAINER, module, None)  # finite again: no error


def test_when_the_diagnosis_itself_fails_then_the_divergence_is_still_reported_with_its_bad_inputs():
    def broken(batch):
        raise RuntimeError("no stability numbers")

    guard = _guard_at({"past_target": torch.tensor([1.0, float("inf")]), "series_index": torch.tensor([3])})
    with pytest.raises(TrainingDivergedError, match="unavailable \\(no stability numbers\\)") as err:
        guard.on_train_batch_end(TRAINER, _Module(broken), torch.tensor(float("inf")), None, 5)
    assert "Non-finite inputs in the batch: ['past_target']" in str(err.value)


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _draws() -> tuple:
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def _trainer(last_batch: bool, world_size: int = 1, rank: int = 0) -> SimpleNamespace:
    progress = SimpleNamespace(is_last_batch=last_batch)
    return SimpleNamespace(fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)),
                           world_size=world_size, global_rank=rank)


def _saved(last_batch: bool) -> dict:
    """A checkpoint as written, round-tripped through torch.save and a weights-only load."""
    checkpoint: dict = {}
    RngState().on_save_checkpoint(_trainer(last_batch), None, checkpoint)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_when_resumed_mid_epoch_then_the_next_batch_draws_what_the_uninterrupted_run_drew():
    checkpoint = _saved(last_batch=False)
    expected = _draws()  # the uninterrupted run goes on
    callback = RngState()
    callback.on_load_checkpoint(_trainer(False), None, checkpoint)
    callback.on_train_epoch_start(_trainer(False), None)  # mid-epoch: not yet
    _draws()  # a fresh process would draw elsewhere before the batch starts
    callback.on_train_batch_start(_trainer(False), None, None, 0)
    assert _draws() == expected


def test_when_resumed_at_an_epoch_end_then_the_states_come_back_before_the_next_epoch_draws():
    checkpoint = _saved(last_batch=True)
    expected = _draws()
    callback = RngState()
    callback.on_load_checkpoint(_trainer(True), None, checkpoint)
    _draws()
    callback.on_train_epoch_start(_trainer(True), None)  # restored here, before the loader's seed
    assert _draws() == expected
    callback.on_train_batch_start(_trainer(True), None, None, 0)  # and only once
    assert _draws() != expected


def test_when_a_checkpoint_holds_every_ranks_states_then_each_rank_gets_its_own():
    states = []
    for seed in (0, 1):
        _seed_all(seed)
        states.append(_saved(last_batch=False)["tsloop_rng"])
    expected = [None, None]
    for rank, seed in enumerate((0, 1)):
        _seed_all(seed)
        expected[rank] = _draws()
    shared = {"mid_epoch": True, "ranks": [{k: v for k, v in s.items() if k != "mid_epoch"} for s in states]}
    callback = RngState()
    callback.on_load_checkpoint(_trainer(False, world_size=2, rank=1), None, {"tsloop_rng": shared})
    callback.on_train_batch_start(None, None, None, 0)
    assert _draws() == expected[1]


def test_when_a_checkpoint_has_no_random_states_then_resuming_changes_nothing():
    callback = RngState()
    callback.on_load_checkpoint(_trainer(False), None, {})
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    callback.on_train_epoch_start(None, None)
    callback.on_train_batch_start(None, None, None, 0)
    assert torch.equal(torch.rand(2), expected)
