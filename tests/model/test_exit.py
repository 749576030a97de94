"""Early-exit rules, one decision at a time on hand-made states (tsloop/model/exit.py)."""

from __future__ import annotations

import math

import pytest
import torch

from tsloop.data.batch import ChannelDims
from tsloop.model import ModelConfig
from tsloop.model.exit import ExitRule

B, N, D = 3, 2, 16  # sequences, tokens, tiny preset's d_model


def _rule(name: str, **overrides) -> ExitRule:
    cfg = ModelConfig.preset("tiny", dims=ChannelDims(target=1), context_length=16, horizon=8, exit_rule=name,
                             **overrides)
    return ExitRule(cfg)


def _z(seed: int = 0) -> torch.Tensor:
    return torch.randn(B, N, D, generator=torch.Generator().manual_seed(seed))


def _used(loops: int) -> torch.Tensor:
    return torch.full((B,), loops, dtype=torch.long)


def _gate_at(rule: ExitRule, prob: float) -> None:
    """Make the gate's probability ``prob`` whatever the state."""
    with torch.no_grad():
        rule.gate.weight.zero_()
        rule.gate.bias.fill_(math.log(prob / (1 - prob)))


def test_when_the_state_has_stopped_moving_then_delta_exits_but_not_before_the_minimum_loops():
    rule = _rule("delta", exit_min_loops=2)
    z = _z()
    state = rule.start(B, z.device)
    assert not rule.stop(state, z, z, _used(1)).any()
    assert rule.stop(state, z, z, _used(2)).all()


def test_when_the_step_is_large_then_delta_does_not_exit():
    rule = _rule("delta")
    z = _z()
    assert not rule.stop(rule.start(B, z.device), z, 1.1 * z, _used(5)).any()  # ||step|| / ||z|| = 0.09 > 0.03


def test_when_the_steps_are_equal_then_second_diff_exits_on_the_second_consecutive_hit():
    rule = _rule("second_diff", exit_min_loops=1)
    step = 0.5 * _z(1)  # a constant step: no acceleration, though the state moves
    z0 = _z()
    state = rule.start(B, z0.device)
    decisions = [rule.stop(state, z0 + k * step, z0 + (k + 1) * step, _used(k + 1)) for k in range(3)]
    assert [bool(d.all()) for d in decisions] == [False, False, True]  # no previous step, one hit, two hits


def test_when_an_acceleration_breaks_the_run_then_second_diff_counts_its_hits_again():
    rule = _rule("second_diff", exit_min_loops=1)
    z, step = _z(), 0.5 * _z(1)
    state = rule.start(B, z.device)
    rule.stop(state, z, z + step, _used(1))
    rule.stop(state, z + step, z + 2 * step, _used(2))  # hit 1
    rule.stop(state, z + 2 * step, z + 5 * step, _used(3))  # the step triples: a miss
    assert not rule.stop(state, z + 5 * step, z + 8 * step, _used(4)).any()  # hit 1 again
    assert rule.stop(state, z + 8 * step, z + 11 * step, _used(5)).all()  # hit 2


@pytest.mark.parametrize("prob, exits", [(0.9, True), (0.1, False)])
def test_when_the_gate_is_above_or_below_tau_then_gate_exits_or_not(prob, exits):
    rule = _rule("gate", gate_threshold=0.5)
    _gate_at(rule, prob)
    z = _z()
    assert bool(rule.stop(rule.start(B, z.device), z, 2 * z, _used(3)).all()) is exits


def test_when_each_loop_has_a_hazard_of_0_3_then_gate_cdf_exits_once_the_cdf_passes_one_half():
    rule = _rule("gate_cdf", gate_threshold=0.5, exit_min_loops=1)
    _gate_at(rule, 0.3)  # CDF after t loops: 1 - 0.7^t = 0.3, 0.51, ...
    z = _z()
    state = rule.start(B, z.device)
    assert not rule.stop(state, z, 2 * z, _used(1)).any()
    assert rule.stop(state, z, 2 * z, _used(2)).all()


def test_when_the_rule_is_none_then_it_never_exits():
    rule = _rule("none")
    z = _z()
    assert rule.gate is None
    assert not rule.stop(rule.start(B, z.device), z, z, _used(100)).any()


def _trace(loops: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    zs = [_z(k) for k in range(loops + 1)]
    return [(zs[k], zs[k + 1], torch.ones(B)) for k in range(loops)]


def _cost(rule: ExitRule, z_prev: torch.Tensor, z: torch.Tensor, loops: int) -> torch.Tensor:
    r = (z - z_prev).flatten(1).norm(dim=1) / z.flatten(1).norm(dim=1)
    return rule.kappa / (1 - rule.kappa) * r + rule.loop_cost * loops


@pytest.mark.parametrize("prob, exit_loop", [(1 - 1e-7, 1), (1e-7, 4)])
def test_when_the_gate_is_open_or_shut_then_its_loss_is_the_cost_of_the_first_or_last_loop(prob, exit_loop):
    rule = _rule("gate")
    _gate_at(rule, prob)  # open: all exit mass on loop 1; shut: the last loop takes it all
    trace = _trace(4)
    z_prev, z, _ = trace[exit_loop - 1]
    expected = _cost(rule, z_prev, z, exit_loop).mean()
    assert torch.allclose(rule.gate_loss(trace), expected, atol=1e-4)


def test_when_the_gate_loss_is_backpropagated_then_only_the_gate_gets_a_gradient():
    rule = _rule("gate")
    trace = [(z_prev.requires_grad_(), z.requires_grad_(), active) for z_prev, z, active in _trace(3)]
    rule.gate_loss(trace).backward()
    assert rule.gate.weight.grad is not None and rule.gate.weight.grad.abs().sum() > 0
    assert all(z_prev.grad is None and z.grad is None for z_prev, z, _ in trace)  # it learns when, not how
