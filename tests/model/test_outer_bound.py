"""The whole outer step h_{k-1} -> h_k is certified: Lipschitz constant < 1, whatever the parameters."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tsloop.model import outer_bound
from tsloop.model.stability import power_sigma

from .conftest import ALL_DIMS, make_batch, tiny_model


def _randomise(model, seed: int, scale: float) -> None:
    """Random parameters everywhere: loop, prelude, embeddings, outer retention."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in model.named_parameters():
            param.copy_(scale * torch.randn(param.shape, generator=gen))


def _outer_sigma(model, seed: int, depth: int) -> float:
    """Power-iteration sigma_max of dh_k / dh_{k-1} at random states, drive and observation held fixed."""
    gen = torch.Generator().manual_seed(seed + 1)
    d = model.cfg.d_model
    h = 5 * torch.randn(6, d, generator=gen)
    u, e = torch.randn(6, d, generator=gen), torch.randn(6, d, generator=gen)
    run = model.new_run(6, depth=depth)
    return power_sigma(lambda x: model.step(x, u, e, run), h, iters=12)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), scale=st.sampled_from([0.1, 1.0, 3.0, 10.0]),
       retention=st.sampled_from([0.0, 0.5, 0.9]), depth=st.sampled_from([1, 2, 5]))
def test_when_parameters_are_random_then_outer_step_is_below_its_certificate_and_below_one(seed, scale, retention, depth):
    model = tiny_model(ALL_DIMS, outer_retention=retention, exit_rule="none")
    _randomise(model, seed, scale)
    model.eval()
    bound = outer_bound(model)
    assert bound < 1
    assert _outer_sigma(model, seed, depth) <= bound * (1 + 1e-3) + 1e-5


def test_when_two_states_roll_10000_steps_under_one_plan_then_their_distance_never_grows():
    torch.manual_seed(0)
    steps, batch = 10_000, 3
    model = tiny_model(ALL_DIMS, outer_retention=0.9).eval()
    _randomise(model, seed=3, scale=1.0)
    d = model.cfg.d_model
    drive = 3 * torch.randn(batch, steps, d)  # a wild plan, far outside any training input
    a, b = 10 * torch.randn(batch, d), 10 * torch.randn(batch, d)
    bound = outer_bound(model)
    run = model.new_run(batch, depth=2)
    gap = (a - b).norm(dim=-1)
    with torch.no_grad():
        for k in range(steps):
            a, b = model.step(a, drive[:, k], None, run), model.step(b, drive[:, k], None, run)
            new_gap = (a - b).norm(dim=-1)
            assert bool(torch.isfinite(a).all())
            assert bool((new_gap <= bound * gap * (1 + 1e-4) + 1e-6).all()), f"gap grew at step {k}"
            gap = new_gap
    assert float(gap.max()) < 1e-3  # two imagined futures under the same plan forget their different starts


def test_when_diagnosed_then_the_certificate_is_reported():
    model = tiny_model(ALL_DIMS, outer_retention=0.5)
    diag = model.diagnostics(make_batch(ALL_DIMS))
    assert 0 < diag["certified_outer"] < 1
    assert diag["sigma_outer"] <= diag["certified_outer"] * (1 + 1e-3) + 1e-5
