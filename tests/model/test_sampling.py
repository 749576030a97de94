import pytest
import torch

from tsloop.model.sampling import ar1, gaussianize_pit, interpolate_quantiles

from .conftest import ALL_DIMS, HORIZON, make_batch, tiny_model

CHANNELS = ALL_DIMS.target + ALL_DIMS.event


def _model_and_batch():
    model = tiny_model(ALL_DIMS)
    with torch.no_grad():  # a non-trivial dependence on the plan and a non-zero learned rho
        for p in model.drive_embed.control.parameters():
            p.mul_(20.0)
        model.rho_raw.fill_(0.8)
    return model, make_batch(ALL_DIMS)


def test_when_noise_and_inputs_are_the_same_then_sample_paths_are_identical():
    model, batch = _model_and_batch()
    noise = torch.randn(16, 4, HORIZON, CHANNELS, generator=torch.Generator().manual_seed(1))
    a, b = model.sample_paths(batch, 16, noise=noise), model.sample_paths(batch, 16, noise=noise)
    assert torch.equal(a.target, b.target) and torch.equal(a.event, b.event)
    gen = lambda: torch.Generator().manual_seed(7)  # noqa: E731
    assert torch.equal(model.sample_paths(batch, 16, generator=gen()).target,
                       model.sample_paths(batch, 16, generator=gen()).target)


def test_when_plan_changes_from_a_step_on_then_samples_differ_only_from_that_step():
    model, batch = _model_and_batch()
    change = model.cfg.patch_len  # the plan changes from the second outer step on
    other = dict(batch)
    other["future_control"] = batch["future_control"].clone()
    other["future_control"][:, change:] += 3.0
    noise = torch.randn(32, 4, HORIZON, CHANNELS, generator=torch.Generator().manual_seed(2))
    a, b = model.sample_paths(batch, 32, noise=noise), model.sample_paths(other, 32, noise=noise)
    assert torch.equal(a.target[:, :, :change], b.target[:, :, :change])
    assert torch.equal(a.event_prob[:, :change], b.event_prob[:, :change])
    assert bool((a.target[:, :, change:] != b.target[:, :, change:]).all())
    # common random numbers: where the forecast moved by a little, each path moved by a little
    shift = (a.target[:, :, change:] - b.target[:, :, change:]).abs().mean()
    spread = a.target[:, :, change:].std(dim=0).mean()
    assert float(shift) < float(spread) * 10


def test_when_many_samples_are_drawn_then_empirical_quantiles_match_the_forecast():
    model, batch = _model_and_batch()
    paths = model.sample_paths(batch, 8000, generator=torch.Generator().manual_seed(3))
    levels = model.levels
    empirical = torch.quantile(paths.target, levels, dim=0).permute(1, 2, 3, 0)  # (B, H, Ct, Q)
    width = paths.quantiles[..., -1] - paths.quantiles[..., 0]  # (B, H, Ct) the 5-95 % range
    error = (empirical - paths.quantiles).abs() / width[..., None]
    assert float(error.max()) < 0.05
    rate = paths.event.mean(dim=0)
    assert float((rate - paths.event_prob).abs().max()) < 0.03


def test_when_copula_rho_is_positive_then_neighbouring_steps_correlate_at_rho():
    noise = torch.randn(20000, 1, 6, 2, generator=torch.Generator().manual_seed(4))
    x = ar1(noise, torch.tensor([0.0, 0.7]))
    assert float(x.std()) == pytest.approx(1.0, abs=0.02)
    corr = [float(torch.corrcoef(torch.stack([x[:, 0, 2, c], x[:, 0, 3, c]]))[0, 1]) for c in (0, 1)]
    assert corr == pytest.approx([0.0, 0.7], abs=0.03)


def test_when_pit_inverts_the_quantile_function_then_uniforms_come_back():
    levels = torch.tensor([0.1, 0.5, 0.9])
    knots = torch.tensor([[[-1.0, 0.5, 3.0]]])  # (1, 1, Q)
    u = torch.tensor([[[0.2]], [[0.5]], [[0.85]]])  # (S, 1, 1)
    y = interpolate_quantiles(knots, levels, u)
    back = torch.special.ndtr(gaussianize_pit(knots.expand(3, 1, 1, 3), levels, y))
    assert torch.allclose(back, u, atol=1e-5)


def test_when_noise_has_the_wrong_shape_then_value_error():
    model, batch = _model_and_batch()
    with pytest.raises(ValueError, match="expected"):
        model.sample_paths(batch, 4, noise=torch.randn(4, 4, HORIZON, 1))
