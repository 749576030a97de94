import itertools
import json

import pytest
import torch

from tsloop.data.batch import ChannelDims
from tsloop.errors import PlanError
from tsloop.model import ModelConfig, WorldModel, losses

from .conftest import ALL_DIMS, make_batch, tiny_model

OPTIONAL = ("past_exog", "known_future", "intervention", "event", "static")
COMBINATIONS = [dict(zip(OPTIONAL, flags)) for flags in itertools.product((0, 1), repeat=len(OPTIONAL))]


def _dims(index: int, flags: dict) -> ChannelDims:
    return ChannelDims(target=1 + index % 2, **{k: v * (1 + index % 3) for k, v in flags.items()})


@pytest.mark.parametrize("index", range(len(COMBINATIONS)))
def test_when_any_channel_kind_is_absent_then_shapes_are_right_and_values_finite(index):
    dims = _dims(index, COMBINATIONS[index])
    context, horizon = (15, 7) if index % 2 else (16, 8)  # also lengths that are not whole patches
    model = tiny_model(dims, context=context, horizon=horizon, deferred=bool(index % 4 < 2))
    batch = make_batch(dims, batch=3, context=context, horizon=horizon, seed=index, missing=0.2)
    loss, logs = model.train().loss(batch, step=10_000)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    with torch.no_grad():
        out = model.eval()(batch)
    q = len(model.cfg.quantiles)
    assert out.quantiles.shape == (3, horizon, dims.target, q)
    assert out.event_prob.shape == (3, horizon, dims.event)
    assert out.latents.shape == (3, 1 + model.cfg.horizon_patches, model.cfg.d_model)
    assert bool(torch.isfinite(out.quantiles).all() and torch.isfinite(out.latents).all())
    assert bool((out.quantiles.diff(dim=-1) > 0).all())  # monotone in the level


def test_when_only_events_and_all_targets_missing_then_loss_is_finite():
    dims = ChannelDims(target=0, event=2, intervention=1)
    model = tiny_model(dims, deferred=False)
    batch = make_batch(dims, missing=1.0)
    loss, logs = model.train().loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and logs["forecast"] == 0.0 and logs["event"] > 0


def test_when_overfitting_one_batch_then_pinball_falls_below_5_percent_of_its_start():
    torch.manual_seed(0)
    model = tiny_model(ALL_DIMS, deferred=False, obs_dropout=0.0)
    batch = make_batch(ALL_DIMS, batch=8)

    def evaluate() -> tuple[float, float]:
        with torch.no_grad():
            out = model.eval()(batch, depth=4)
        model.train()
        return (float(losses.pinball(out.quantiles, batch["future_target"], batch["future_target_mask"],
                                     model.levels)),
                float(losses.event_bce(out.event_logits, batch["future_event"], 1.0)))

    start = evaluate()
    steps = 250
    opt = torch.optim.AdamW(model.param_groups(0.0), lr=1e-2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=steps, pct_start=0.1)
    for _ in range(steps):
        loss, _ = model.loss(batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
    end = evaluate()
    assert end[0] < 0.05 * start[0], (start, end)  # measured ~3 % over seeds 0-2
    assert end[1] < 0.05 * start[1], (start, end)


def test_when_deferred_training_then_only_the_terminal_patch_and_latent_terms_enter():
    model = tiny_model(ALL_DIMS, k_every=10, k_sample=False)
    batch = make_batch(ALL_DIMS)
    _, early = model.train().loss(batch, step=0)
    _, late = model.loss(batch, step=10_000)
    assert early["deferred_k"] == 1 and late["deferred_k"] == model.cfg.horizon_patches
    assert {"consist", "path", "jacobian", "c_max"} <= set(late)
    assert int(model.step_norms_seen) == 4 * (1 + model.cfg.horizon_patches)  # teacher-forced norms
    _, stepwise = tiny_model(ALL_DIMS, deferred=False, jacobian_weight=0.0).train().loss(batch)
    assert not {"consist", "path", "jacobian"} & set(stepwise)


def test_when_k_is_sampled_then_every_horizon_patch_becomes_a_terminal_target():
    torch.manual_seed(0)
    model = tiny_model(ALL_DIMS, k_every=10, jacobian_weight=0.0).train()
    batch = make_batch(ALL_DIMS)
    seen = {model.loss(batch, step=10_000)[1]["deferred_k"] for _ in range(30)}
    assert seen == set(range(1, model.cfg.horizon_patches + 1))
    assert model.eval().loss(batch, step=10_000)[1]["deferred_k"] == model.cfg.horizon_patches


def test_when_saved_and_loaded_then_predictions_and_samples_are_identical():
    model = tiny_model(ALL_DIMS)
    batch = make_batch(ALL_DIMS)
    model.train().loss(batch, step=3)[0].backward()  # move buffers (power iteration, C_max) off init
    model.update_ema()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    config = json.loads(json.dumps(model.cfg.to_dict()))
    torch.manual_seed(123)  # a different init for the copy
    loaded = WorldModel(ModelConfig.from_dict(config))
    loaded.load_state_dict(state)
    model.eval(), loaded.eval()
    with torch.no_grad():
        a, b = model(batch), loaded(batch)
    assert torch.equal(a.quantiles, b.quantiles) and torch.equal(a.event_prob, b.event_prob)
    noise = torch.randn(5, 4, model.cfg.horizon, 3)
    assert torch.equal(model.sample_paths(batch, 5, noise=noise).target,
                       loaded.sample_paths(batch, 5, noise=noise).target)


def test_when_diagnostics_are_asked_then_every_key_is_present_and_finite():
    model = tiny_model(ALL_DIMS)
    diag = model.diagnostics(make_batch(ALL_DIMS))
    expected = {"retention_min", "retention_max", "gamma", "certified_bound", "sigma_inner",
                "sigma_outer", "loops_mean", "latent_norm_mean", "latent_norm_max"}
    assert expected <= set(diag)
    assert all(isinstance(v, float) and torch.isfinite(torch.tensor(v)) for v in diag.values())
    assert 0 < diag["retention_min"] <= diag["retention_max"] < 1
    assert diag["sigma_inner"] <= diag["certified_bound"] * (1 + 1e-3) <= model.cfg.kappa * (1 + 1e-3)
    assert model.training  # mode restored


def test_when_imagining_the_batch_plan_then_it_equals_the_forecast_latents():
    model = tiny_model(ALL_DIMS).eval()
    batch = make_batch(ALL_DIMS)
    with torch.no_grad():
        out = model(batch, depth=3)
        run = model.new_run(4, depth=3)
        h = model.imagine(model.encode(batch, run), batch, run)
    assert torch.equal(h, out.latents[:, 1:])


@pytest.mark.parametrize("depth", [1, 2, 24])
def test_when_evaluated_at_a_fixed_depth_then_that_many_loops_run(depth):
    model = tiny_model(ALL_DIMS).eval()
    with torch.no_grad():
        out = model(make_batch(ALL_DIMS), depth=depth)
    assert out.loops_used == depth and bool(torch.isfinite(out.quantiles).all())


def test_when_plan_has_wrong_channel_count_then_plan_error_says_the_expected_shape():
    model = tiny_model(ALL_DIMS).eval()
    h0 = torch.zeros(2, model.cfg.d_model)
    with pytest.raises(PlanError, match=r"\(2, 8, 1\)"):
        model.imagine(h0, {"future_control": torch.zeros(2, 8, 3)})
    past = {"past_control": torch.zeros(2, 16, 1), "past_control_mask": torch.ones(2, 16, 1)}
    states = model.imagine(h0, {"future_control": torch.zeros(2, 40, 1), **past})  # longer than the horizon
    assert states.shape == (2, 10, model.cfg.d_model)


def test_when_a_delayed_model_gets_a_plan_without_past_controls_then_plan_error_names_them():
    model = tiny_model(ALL_DIMS).eval()  # controls act patch_len - 1 rows late (causal alignment)
    h0 = torch.zeros(2, model.cfg.d_model)
    with pytest.raises(PlanError, match="past_control_mask"):
        model.imagine(h0, {"future_control": torch.ones(2, 8, 1)})
    # the context's last controls act in the first patch: they change the state, so they must not default to zeros
    unknown = {"past_control": torch.zeros(2, 16, 1), "past_control_mask": torch.zeros(2, 16, 1)}
    known = {"past_control": torch.ones(2, 16, 1), "past_control_mask": torch.ones(2, 16, 1)}
    with torch.no_grad():
        a = model.imagine(h0, {"future_control": torch.ones(2, 8, 1), **unknown}, model.new_run(2, depth=2))
        b = model.imagine(h0, {"future_control": torch.ones(2, 8, 1), **known}, model.new_run(2, depth=2))
    assert not torch.allclose(a[:, 0], b[:, 0])


def test_when_ema_updates_then_target_encoder_moves_toward_online_encoder():
    model = tiny_model(ALL_DIMS)
    with torch.no_grad():
        for p in model.obs_embed.parameters():
            p.add_(1.0)
    before = [p.clone() for p in model.target_obs_embed.parameters()]
    model.update_ema()
    for old, new, online in zip(before, model.target_obs_embed.parameters(), model.obs_embed.parameters()):
        assert torch.allclose(new, old + (1 - model.cfg.ema_decay) * (online - old))
        assert not new.requires_grad


def test_when_validating_without_grad_then_loss_is_finite_and_training_buffers_do_not_move():
    model = tiny_model(ALL_DIMS).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        loss, logs = model.loss(make_batch(ALL_DIMS), step=10_000)
    assert torch.isfinite(loss) and "jacobian" not in logs
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_when_one_step_weight_is_set_then_the_teacher_forced_term_trains_the_observation_encoder():
    torch.manual_seed(0)
    model = tiny_model(ALL_DIMS, one_step_weight=1.0, jacobian_weight=0.0).train()
    loss, logs = model.loss(make_batch(ALL_DIMS), step=0)
    assert "one_step" in logs and logs["one_step"] > 0
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.obs_embed.parameters())
    _, without = tiny_model(ALL_DIMS, jacobian_weight=0.0).train().loss(make_batch(ALL_DIMS))
    assert "one_step" not in without


def test_when_instance_norm_is_on_then_shifting_and_scaling_the_targets_moves_the_forecast_alike():
    torch.manual_seed(0)
    model = tiny_model(ALL_DIMS, instance_norm=True).eval()
    batch = make_batch(ALL_DIMS, missing=0.0)
    moved = dict(batch, past_target=batch["past_target"] * 3.0 + 5.0, future_target=batch["future_target"] * 3.0 + 5.0)
    with torch.no_grad():
        a, b = model(batch, depth=4), model(moved, depth=4)
    assert torch.allclose(b.quantiles, a.quantiles * 3.0 + 5.0, atol=1e-4)
    loss_a, _ = model.train().loss(batch)
    assert torch.isfinite(loss_a)


def test_when_the_stack_is_unshared_then_every_block_is_trained():
    # truncated backprop through depth belongs to the shared loop; it left blocks 0-3 of 8 untrained
    model = tiny_model(ALL_DIMS, shared=False, mean_depth=8.0, jacobian_weight=0.0).train()
    model.loss(make_batch(ALL_DIMS), step=100)[0].backward()
    grads = [block.f[0].weight.grad for block in model.core.blocks]
    assert len(grads) == 8 and all(g is not None and g.abs().sum() > 0 for g in grads)


def _spread_batch(dims: ChannelDims, spreads: list[float]) -> dict[str, torch.Tensor]:
    """A batch with no missing targets whose window b has context spread ``spreads[b]``, mean 1."""
    batch = make_batch(dims, batch=len(spreads), missing=0.0)
    past, future = batch["past_target"], batch["future_target"]
    mean, std = past.mean(1, keepdim=True), past.std(1, unbiased=False, keepdim=True)
    s = torch.tensor(spreads).view(-1, 1, 1)
    return dict(batch, past_target=(past - mean) / std * s + 1.0, future_target=(future - mean) / std * s + 1.0)


def test_task_loss_units_weight_each_window_s_forecast_error_by_its_context_spread():
    dims = ChannelDims(target=2, known_future=1)
    instance = tiny_model(dims, one_step_weight=0.5)
    task = tiny_model(dims, one_step_weight=0.5, loss_units="task")
    task.load_state_dict(instance.state_dict())
    instance.train(), task.train()

    def loss(model, batch):
        torch.manual_seed(3)  # the same depths, K and dropout for both
        return model.loss(batch)[1]

    equal = _spread_batch(dims, [2.0] * 4)  # every window alike: a weighted mean with equal weights is the mean
    a, b = loss(instance, equal), loss(task, equal)
    assert a["forecast"] == pytest.approx(b["forecast"], rel=1e-5) and a["one_step"] == pytest.approx(b["one_step"], rel=1e-5)
    spread = _spread_batch(dims, [0.2, 1.0, 5.0, 25.0])
    normed = task.normalise(spread)[0]
    assert torch.allclose(task.fit_weight(normed), normed["future_target_mask"] * normed["target_scale"])
    assert torch.equal(instance.fit_weight(normed), normed["future_target_mask"])
    assert loss(instance, spread)["forecast"] != pytest.approx(loss(task, spread)["forecast"], rel=1e-3)
