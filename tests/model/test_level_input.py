"""``level_input``: the context's level, which instance normalisation takes out, enters every drive."""

from __future__ import annotations

import pytest
import torch

from tests.model.conftest import ALL_DIMS, make_batch, tiny_model
from tsloop.errors import PlanError, SpecError


def shifted(batch: dict[str, torch.Tensor], by: float) -> dict[str, torch.Tensor]:
    """The same windows moved up by ``by`` in the task's units: identical once normalised, another level."""
    out = dict(batch)
    for key in ("past_target", "future_target"):
        out[key] = (batch[key] + by) * batch[f"{key}_mask"]
    return out


def level_model(**options):
    """A ``level_input`` model whose level embedding is not inert (it starts at zero)."""
    m = tiny_model(ALL_DIMS, level_input=True, **options)
    with torch.no_grad():
        m.drive_embed.level.weight.normal_(0, 1.0)
    return m.eval()


def test_without_level_input_a_shifted_window_gets_the_same_forecast_shifted():
    """The premise: instance normalisation makes the forecast blind to the level."""
    m = tiny_model(ALL_DIMS).eval()
    batch = make_batch(ALL_DIMS)
    with torch.no_grad():
        a, b = m(batch, depth=4).quantiles, m(shifted(batch, 5.0), depth=4).quantiles
    assert torch.allclose(a + 5.0, b, atol=1e-4)


@pytest.mark.parametrize("rollout", ["open_loop", "gcomp"])
def test_level_input_lets_the_forecast_depend_on_the_level(rollout):
    m = level_model(rollout=rollout)
    batch = make_batch(ALL_DIMS)
    with torch.no_grad():
        a, b = m(batch, depth=4).quantiles, m(shifted(batch, 5.0), depth=4).quantiles
        paths = m.sample_paths(shifted(batch, 5.0), 2, generator=torch.Generator().manual_seed(0))
    assert (a + 5.0 - b).abs().mean() > 1e-3
    assert torch.isfinite(paths.target).all()


def test_level_input_starts_inert():
    """At its start the model forecasts exactly as the same weights without it."""
    with_level = tiny_model(ALL_DIMS, level_input=True).eval()
    plain = tiny_model(ALL_DIMS).eval()
    plain.load_state_dict({k: v for k, v in with_level.state_dict().items() if not k.startswith("drive_embed.level")})
    batch = make_batch(ALL_DIMS)
    with torch.no_grad():
        assert torch.equal(with_level(batch, depth=4).quantiles, plain(batch, depth=4).quantiles)


def test_a_plan_without_the_context_level_is_refused():
    m = level_model()
    batch = make_batch(ALL_DIMS)
    with torch.no_grad():
        h0 = m.encode(batch)
        with pytest.raises(PlanError, match="target_shift"):
            m.imagine(h0, batch)  # the raw batch: its level was never computed
        assert torch.isfinite(m.imagine(h0, m.normalise(batch)[0])).all()


def test_level_input_needs_instance_norm():
    with pytest.raises(SpecError, match="level_input"):
        tiny_model(ALL_DIMS, level_input=True, instance_norm=False)


def test_level_input_trains_and_its_stability_probes_run():
    m = level_model().train()
    loss, _ = m.loss(make_batch(ALL_DIMS))
    loss.backward()
    assert m.drive_embed.level.weight.grad.abs().sum() > 0
    assert all(torch.isfinite(torch.tensor(v)) for v in m.eval().lipschitz_probes(make_batch(ALL_DIMS), 2).values())
