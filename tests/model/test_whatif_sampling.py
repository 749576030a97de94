"""G-computation rollouts, control members and the policy head's support (sampling.py)."""

import pytest
import torch

from tsloop.errors import SpecError
from tsloop.model.config import ModelConfig
from tsloop.model.sampling import tail_probability
from tsloop.model.world_model import WorldModel, bootstrap_member
from tests.model.test_causal_alignment import DIMS, H, L, make_batch


def model(**options) -> WorldModel:
    torch.manual_seed(0)
    return WorldModel(ModelConfig.preset("tiny", dims=DIMS, context_length=L, horizon=H, **options))


def noise(s: int = 10) -> torch.Tensor:
    return torch.randn(s, 3, H, 3, generator=torch.Generator().manual_seed(2))


def test_tail_probability_is_one_at_the_median_and_zero_far_out():
    levels = torch.tensor([0.1, 0.5, 0.9])
    knots = torch.tensor([[-1.0, 0.0, 1.0]])
    p = tail_probability(knots.expand(4, 3), levels, torch.tensor([0.0, 0.5, 1.0, 50.0]))
    assert p.tolist() == pytest.approx([1.0, 0.6, 0.2, 0.0])


def test_gcomp_paths_are_common_random_numbers_and_stay_inside_the_conditionals():
    m = model(rollout="gcomp")
    batch = make_batch()
    a, b = m.sample_paths(batch, 10, noise=noise()), m.sample_paths(batch, 10, noise=noise())
    assert torch.equal(a.target, b.target) and torch.equal(a.event, b.event)
    assert a.target.shape == (10, 3, H, 2) and a.event_prob.shape == (3, H, 1)
    assert a.quantiles.shape == (3, H, 2, len(m.cfg.quantiles))
    assert torch.isfinite(a.target).all()


def test_gcomp_feeds_each_path_s_draws_back():
    """Under G-computation a path's later steps depend on its own earlier draws: changing the noise of
    the first patch only moves later patches too (open loop: only the first patch moves, up to the
    copula's AR(1) carry-over, which a zero rho removes)."""
    for rollout, later_moves in (("gcomp", True), ("open_loop", False)):
        m = model(rollout=rollout, copula_rho=0.0)
        n = noise()
        moved = n.clone()
        moved[:, :, :4] += 1.0
        a, b = m.sample_paths(make_batch(), 10, noise=n), m.sample_paths(make_batch(), 10, noise=moved)
        assert ((a.target[:, :, 4:] - b.target[:, :, 4:]).abs().max() > 1e-6) == later_moves


def test_members_share_paths_round_robin_and_differ():
    m = model(control_members=3)
    with torch.no_grad():  # members start equal only by chance: make them clearly different
        m.drive_embed.control.proj.weight.mul_(20)
    paths = m.sample_paths(make_batch(), 6, noise=noise(1).expand(6, -1, -1, -1).contiguous()).target
    # the same noise on every path: paths differ only by member, and path s uses member s mod 3
    assert torch.equal(paths[0], paths[3]) and torch.equal(paths[1], paths[4])
    assert not torch.equal(paths[0], paths[1])


def test_bootstrap_members_are_fixed_per_block_and_cover_every_member():
    cfg = ModelConfig.preset("tiny", dims=DIMS, context_length=L, horizon=H, control_members=5)
    n = 4000
    batch = {"past_target": torch.zeros(n, 1, 1), "series_index": torch.zeros(n, dtype=torch.long),
             "window_start": torch.arange(n) * (L + H)}  # one block per window
    torch.manual_seed(0)
    first = bootstrap_member(batch, cfg)
    assert set(first.tolist()) == set(range(5))
    # a block whose weight is zero for a member never trains it: with one block repeated, the
    # members it draws stay inside that block's support
    one = {k: v[:1].repeat(500, *[1] * (v.dim() - 1)) for k, v in batch.items()}
    drawn = [set(bootstrap_member(one, cfg).tolist()) for _ in range(3)]
    assert drawn[0] == drawn[1] == drawn[2]
    blocks_short_of_a_member = 0
    for start in range(40):  # most blocks leave some member out (P = 1 - (1 - e^-1)^5 ~ 0.9)
        block = {**one, "window_start": torch.full((500,), start * (L + H))}
        blocks_short_of_a_member += len(set(bootstrap_member(block, cfg).tolist())) < 5
    assert blocks_short_of_a_member >= 25
    # weights are a property of the block: the share of blocks a member never sees is about e^-1
    never = []
    for member in range(5):
        counts = torch.zeros(n)
        for seed in range(6):
            torch.manual_seed(seed)
            counts += (bootstrap_member(batch, cfg) == member).float()
        never.append(float((counts == 0).float().mean()))
    assert all(0.3 < share < 0.75 for share in never)


def test_the_policy_head_trains_on_logged_controls_and_scores_plans():
    m = model(policy_head=True)
    m.train()
    _, logs = m.loss(make_batch(), step=0)
    assert "policy" in logs and logs["policy"] > 0
    m.eval()
    support = m.sample_paths(make_batch(), 8, noise=noise(8)).control_support
    assert support.shape == (3, H, 2) and ((support >= 0) & (support <= 1)).all()
    far = dict(make_batch(), future_control=make_batch()["future_control"] + 100.0)
    assert m.sample_paths(far, 8, noise=noise(8)).control_support.max() == 0.0


def test_balancing_trains_an_adversary_through_a_reversed_gradient():
    from tsloop.model.losses import reverse_gradient

    x = torch.ones(3, requires_grad=True)
    (reverse_gradient(x, 0.5) * 2).sum().backward()
    assert x.grad.tolist() == [-1.0, -1.0, -1.0]
    m = model(balance_weight=0.5)
    m.train()
    loss, logs = m.loss(make_batch(), step=0)
    assert "balance" in logs and "policy" not in logs
    loss.backward()
    assert m.adversary.proj.weight.grad.abs().sum() > 0


def test_one_step_forecast_conditions_each_patch_on_the_observations_before_it_only():
    """The conditional G-computation chains: patch k's forecast moves when an earlier patch's
    observation moves, never when its own or a later one does."""
    m = model(rollout="gcomp").eval()
    batch = make_batch()
    moved = dict(batch, future_target=batch["future_target"].clone())
    moved["future_target"][:, 4:8] += 3.0  # the second patch (tiny preset: 4 rows a patch)
    with torch.no_grad():
        a, b = m.one_step_forecast(batch, depth=4), m.one_step_forecast(moved, depth=4)
    assert a.quantiles.shape == (3, H, 2, len(m.cfg.quantiles)) and a.latents.shape == (3, H // 4 + 1, 16)
    assert torch.equal(a.quantiles[:, :8], b.quantiles[:, :8])
    assert (a.quantiles[:, 8:] - b.quantiles[:, 8:]).abs().max() > 1e-4


def test_blind_weight_scales_only_the_blind_forecast_terms_under_gcomp():
    """blind_weight 0 trains the one-step conditionals only (G-Net); the other terms are unchanged,
    except the copula, which is then fitted to the one-step conditionals' PITs."""
    logs = {}
    for weight in (1.0, 0.5, 0.0):
        m = model(rollout="gcomp", one_step_weight=1.0, blind_weight=weight)
        torch.manual_seed(3)
        logs[weight] = m.loss(make_batch(), step=0)[1]
    assert logs[0.5]["forecast"] == pytest.approx(0.5 * logs[1.0]["forecast"], rel=1e-5)
    assert "forecast" not in logs[0.0] and "event" not in logs[0.0]
    for name in ("one_step", "consist", "path"):
        assert logs[0.0][name] == pytest.approx(logs[1.0][name], rel=1e-5)
    assert logs[0.5]["copula"] == pytest.approx(logs[1.0]["copula"], rel=1e-5)
    assert logs[0.0]["copula"] != pytest.approx(logs[1.0]["copula"], rel=1e-3)
    with pytest.raises(SpecError, match="blind_weight"):
        model(blind_weight=-1.0)
    with pytest.raises(SpecError, match="one_step_weight must be > 0"):  # nothing would train a forecast
        model(rollout="gcomp", one_step_weight=0.0, blind_weight=0.0)


def propensity_model(**options) -> WorldModel:
    """A model with ``propensity_input`` whose propensity embedding is not inert (it starts at zero)."""
    m = model(rollout="gcomp", policy_head=True, propensity_input=True, **options)
    with torch.no_grad():
        m.propensity_embed.weight.normal_(0, 1.0), m.propensity_embed.bias.normal_(0, 0.1)
    return m


@pytest.mark.parametrize("options", [{}, {"prior_obs": True}, {"propensity_input": True, "policy_head": True}])
def test_gcomp_sampler_chains_exactly_the_one_step_conditionals(options):
    """A G-computation path is the chain of the one-step conditionals that training fits: scoring the
    path itself as the observed horizon, one_step_forecast gives back the quantiles each draw came from."""
    from tsloop.model.sampling import interpolate_quantiles

    if options.get("propensity_input"):
        m = propensity_model(copula_rho=0.0, event_rho=0.0).eval()
    else:
        m = model(rollout="gcomp", copula_rho=0.0, event_rho=0.0, **options).eval()
    batch = make_batch()
    eps = noise(1)
    paths = m.sample_paths(batch, 1, noise=eps)
    observed = dict(batch, future_target=paths.target[0], future_target_mask=torch.ones_like(paths.target[0]),
                    future_event=paths.event[0])
    with torch.no_grad():
        q = m.one_step_forecast(observed).quantiles  # (B, H, Ct, Q) data units
    redrawn = interpolate_quantiles(q, m.levels, torch.special.ndtr(eps[0, ..., :2]))
    assert torch.allclose(redrawn, paths.target[0], atol=1e-4)


def test_prior_obs_lets_the_one_step_prior_read_the_previous_observation():
    """With prior_obs the conditional of patch k depends on patch k-1's observation through the step's
    injection as well; it still never reads its own patch or a later one."""
    batch = make_batch()
    moved = dict(batch, future_target=batch["future_target"].clone())
    moved["future_target"][:, 4:8] += 3.0  # the second patch
    outs = {}
    for prior_obs in (False, True):
        m = model(rollout="gcomp", prior_obs=prior_obs).eval()
        with torch.no_grad():
            a, b = m.one_step_forecast(batch, depth=4), m.one_step_forecast(moved, depth=4)
        assert torch.equal(a.quantiles[:, :8], b.quantiles[:, :8])
        outs[prior_obs] = (a.quantiles[:, 8:12] - b.quantiles[:, 8:12]).abs().mean()
    assert outs[True] > 0 and not torch.isclose(outs[True], outs[False])


def test_propensity_input_reads_the_previous_patch_never_its_own():
    """The policy's median controls of patch k depend on patch k-1's observation, so the conditional of
    patch k moves with it; the conditionals of patch k-1 and before do not."""
    batch = make_batch()
    moved = dict(batch, future_target=batch["future_target"].clone())
    moved["future_target"][:, 4:8] += 3.0  # the second patch
    m = propensity_model().eval()
    with torch.no_grad():
        a, b = m.one_step_forecast(batch, depth=4), m.one_step_forecast(moved, depth=4)
        prop = m.propensity_drive(m.obs_embed(batch["future_target"], batch["future_target_mask"],
                                              batch["future_event"], False), m.drive_embed.exogenous(m.normalise(batch)[0]))
    assert torch.equal(a.quantiles[:, :8], b.quantiles[:, :8])
    assert (a.quantiles[:, 8:12] - b.quantiles[:, 8:12]).abs().mean() > 0
    assert prop.abs().sum() > 0  # the term is there; with the embedding at zero (its start) it is inert
    inert = model(rollout="gcomp", policy_head=True, propensity_input=True).eval()
    with torch.no_grad():
        plain = model(rollout="gcomp", policy_head=True).eval()
        plain.load_state_dict({k: v for k, v in inert.state_dict().items() if not k.startswith("propensity_embed")})
        assert torch.equal(inert.one_step_forecast(batch, depth=4).quantiles, plain.one_step_forecast(batch, depth=4).quantiles)


def test_propensity_input_does_not_train_the_policy_head():
    """The policy's median enters detached: the one-step conditionals send no gradient into the policy head
    (it learns only from its own loss, on detached inputs), but they do train the propensity embedding."""
    m = propensity_model().train()
    batch = m.normalise(make_batch())[0]
    run = m.new_run(batch["past_target"].shape[0])
    h0 = m.encode(batch, run)
    q = m._one_step_prior(batch, h0, m.drive_embed.future(batch), run)[0]
    q.pow(2).mean().backward()
    assert all(p.grad is None or not p.grad.any() for p in m.policy.parameters())
    assert m.propensity_embed.weight.grad is not None and m.propensity_embed.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("options", [{"propensity_input": True},  # no policy head to read
                                     {"propensity_input": True, "policy_head": True, "rollout": "open_loop"}])
def test_propensity_input_needs_a_policy_head_and_gcomp(options):
    with pytest.raises(SpecError, match="propensity_input"):
        model(**{"rollout": "gcomp", **options})
