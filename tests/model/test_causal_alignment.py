"""Causal alignment of controls (embed.control_shift): no outcome is predicted from a control set
after it was seen, inside a patch too; old checkpoints keep their unaligned reading."""

import pytest
import torch

from tsloop.data.batch import ChannelDims
from tsloop.data.spec import TaskSpec
from tsloop.errors import SpecError
from tsloop.model.config import WHATIF_DEFAULTS, ModelConfig
from tsloop.model.embed import control_shift, delay
from tsloop.model.world_model import WorldModel

L, H = 24, 12
DIMS = ChannelDims(target=2, known_future=1, intervention=2, event=1)


def make_batch(b: int = 3) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g)
    return dict(past_target=r(b, L, 2), past_target_mask=torch.ones(b, L, 2), past_event=torch.zeros(b, L, 1),
                past_exog=torch.zeros(b, L, 0), past_known=r(b, L, 1), past_control=r(b, L, 2),
                past_control_mask=torch.ones(b, L, 2), future_target=r(b, H, 2), future_target_mask=torch.ones(b, H, 2),
                future_event=torch.zeros(b, H, 1), future_known=r(b, H, 1), future_control=r(b, H, 2),
                future_control_mask=torch.ones(b, H, 2), static=torch.zeros(b, 0),
                series_index=torch.arange(b), window_start=torch.arange(b) * 40)


def first_changed_step(model: WorldModel, change_at: int) -> int | None:
    """First horizon step whose sampled paths move when the controls from ``change_at`` on change."""
    batch = make_batch()
    noise = torch.randn(16, 3, H, 3, generator=torch.Generator().manual_seed(1))
    base = model.sample_paths(batch, 16, noise=noise).target
    moved = dict(batch, future_control=batch["future_control"].clone())
    moved["future_control"][:, change_at:] += 3.0
    diff = (model.sample_paths(moved, 16, noise=noise).target - base).abs().amax(dim=(0, 1, 3))
    steps = (diff > 1e-6).nonzero().flatten().tolist()
    return steps[0] if steps else None


@pytest.mark.parametrize("rollout", ["open_loop", "gcomp"])
@pytest.mark.parametrize("lag", [0, 1])
@pytest.mark.parametrize("change_at", [0, 1, 5, 8])
def test_a_control_never_moves_an_earlier_outcome(rollout, lag, change_at):
    torch.manual_seed(0)
    model = WorldModel(ModelConfig.preset("tiny", dims=DIMS, context_length=L, horizon=H, control_lag=lag,
                                          rollout=rollout))  # patches of 4 rows
    first = first_changed_step(model, change_at)
    # the resolution it costs: the control acts from the patch holding row change_at + lag + P - 1
    p = model.cfg.patch_len
    expected = ((change_at + lag + p - 1) // p) * p
    assert first == (expected if expected < H else None)
    assert first is None or first >= change_at + lag


def test_unaligned_models_read_a_patch_s_own_controls():
    torch.manual_seed(0)
    cfg = ModelConfig.preset("tiny", dims=DIMS, context_length=L, horizon=H, control_lag=None)
    assert control_shift(cfg) == 0
    assert first_changed_step(WorldModel(cfg), 5) == 4  # the patch of rows 4..7 sees row 5's control


def test_delay_takes_the_last_context_rows_then_zeros():
    x = torch.arange(1.0, 7.0).view(1, 6, 1)
    before = torch.tensor([[[10.0], [20.0]]])
    assert delay(x, 3, before).flatten().tolist() == [0.0, 10.0, 20.0, 1.0, 2.0, 3.0]
    assert delay(x, 0, before).flatten().tolist() == x.flatten().tolist()


def test_for_task_reads_timing_and_sets_whatif_defaults():
    spec = TaskSpec.from_dict(dict(target=["y"], freq="5min", context_length=L, horizon=H,
                                   intervention=["a"], control_timing="next"))
    cfg = ModelConfig.for_task("tiny", spec)
    assert cfg.control_lag == 1 and control_shift(cfg) == cfg.patch_len
    assert {k: getattr(cfg, k) for k in WHATIF_DEFAULTS} == WHATIF_DEFAULTS
    plain = ModelConfig.for_task("tiny", TaskSpec.from_dict(dict(target=["y"], freq="5min", context_length=L,
                                                                 horizon=H)))
    assert plain.rollout == "open_loop" and plain.control_members == 1 and not plain.policy_head
    assert ModelConfig.for_task("tiny", spec, rollout="open_loop").rollout == "open_loop"


def test_a_checkpoint_from_before_alignment_keeps_its_reading():
    data = ModelConfig.preset("tiny", dims=DIMS, context_length=L, horizon=H).to_dict()
    del data["control_lag"]
    assert ModelConfig.from_dict(data).control_lag is None


def test_unknown_timing_names_the_choices():
    with pytest.raises(SpecError, match="control_timing must be one of"):
        TaskSpec.from_dict(dict(target=["y"], freq="5min", context_length=L, horizon=H, control_timing="before"))
