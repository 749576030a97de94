import pytest
import torch

from .conftest import ALL_DIMS, make_batch, tiny_model


def _fixed_point_and_far_start(model, batch: int = 4):
    gen = torch.Generator().manual_seed(0)
    d = model.cfg.d_model
    p = torch.nn.functional.layer_norm(torch.randn(batch, 1, d, generator=gen), (d,))
    with torch.no_grad():
        z_star = model.core(p, torch.zeros_like(p), model.new_run(batch, depth=200))
    far = z_star + 5 * torch.randn(z_star.shape, generator=gen)
    return p, z_star, far


@pytest.mark.parametrize("rule", ["delta", "second_diff"])
def test_when_input_has_converged_then_early_exit_uses_fewer_loops(rule):
    model = tiny_model(ALL_DIMS, exit_rule=rule).eval()
    p, z_star, far = _fixed_point_and_far_start(model)
    with torch.no_grad():
        run = model.new_run(p.shape[0])
        assert run.early_exit
        model.core(p, z_star, run)
        model.core(p, far, run)
    converged, unconverged = run.loops_used
    min_loops = model.cfg.exit_min_loops + (1 if rule == "second_diff" else 0)  # two hits need 3 loops
    assert bool((converged == min_loops).all())
    assert bool((unconverged > converged).all())
    assert bool((unconverged <= model.cfg.max_depth).all())


@pytest.mark.parametrize("rule", ["gate", "gate_cdf"])
def test_when_gate_is_open_or_shut_then_loops_used_are_min_or_max(rule):
    model = tiny_model(ALL_DIMS, exit_rule=rule).eval()
    p, _, far = _fixed_point_and_far_start(model)
    used = []
    for bias in (20.0, -20.0):
        with torch.no_grad():
            model.core.exit.gate.bias.fill_(bias)
            run = model.new_run(p.shape[0])
            model.core(p, far, run)
        used.append(run.mean_loops())
    assert used == [model.cfg.exit_min_loops, model.cfg.max_depth]


def test_when_training_with_gate_then_gate_loss_reaches_only_the_gate():
    model = tiny_model(ALL_DIMS, exit_rule="gate").train()
    batch = make_batch(ALL_DIMS)
    run = model.new_run(4)
    model.encode(batch, run)
    assert run.gate_losses
    gate_loss = torch.stack(run.gate_losses).mean()
    gate_loss.backward()
    assert model.core.exit.gate.weight.grad is not None
    assert model.core.blocks[0].f[0].weight.grad is None  # the gate reads z detached


def test_when_training_then_depth_is_sampled_per_sequence_and_backprop_is_truncated():
    torch.manual_seed(0)
    model = tiny_model(ALL_DIMS, exit_rule="none").train()
    run = model.new_run(256)
    assert run.depth.unique().numel() > 3  # per sequence, not per batch
    assert int(run.depth.min()) >= 1 and int(run.depth.max()) <= model.cfg.max_depth
    assert abs(float(run.depth.float().mean()) - model.cfg.mean_depth) < 0.5
    assert run.grad_loops == 2  # ceil(mu / 2) with mu = 4

    # backprop: z^(0) only reaches the output through loops inside the grad window
    d = model.cfg.d_model
    p = torch.randn(2, 1, d)
    z0 = torch.randn(2, 1, d, requires_grad=True)
    run.depth = torch.tensor([2, 6])  # right-aligned: sequence 0 runs entirely in the window
    out = model.core(p, z0, run)
    (grad,) = torch.autograd.grad(out.sum(), z0)
    assert float(grad[0].abs().sum()) > 0 and float(grad[1].abs().sum()) == 0
    assert run.loops_used[-1].tolist() == [2, 6]


@pytest.mark.parametrize("overrides,loops", [(dict(looped=False), 1), (dict(shared=False), 4),
                                             (dict(exit_rule="none"), 4)])
def test_when_ablated_or_exit_off_then_depth_is_fixed(overrides, loops):
    model = tiny_model(ALL_DIMS, **overrides).eval()
    with torch.no_grad():
        out = model(make_batch(ALL_DIMS))
    assert out.loops_used == loops
    assert len(model.core.blocks) == (4 if overrides.get("shared") is False else 1)
