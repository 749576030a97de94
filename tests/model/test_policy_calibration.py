"""The policy head's tail probabilities calibrated on logged controls (split conformal, policy.py)."""

import pytest
import torch

from tsloop.model.config import ModelConfig
from tsloop.model.policy import CALIBRATION_GRID, calibrate, policy_inputs
from tsloop.model.sampling import tail_probability, tail_score
from tsloop.model.world_model import WorldModel
from tests.model.test_causal_alignment import DIMS, H, L, make_batch


def model() -> WorldModel:
    torch.manual_seed(0)
    return WorldModel(ModelConfig.preset("tiny", dims=DIMS, context_length=L, horizon=H, rollout="gcomp",
                                         policy_head=True)).eval()


def batches(seed: int, count: int = 8, size: int = 32) -> list[dict[str, torch.Tensor]]:
    """Windows whose controls are far from what an untrained head predicts (its raw tails are mostly 0)."""
    out = []
    for i in range(count):
        torch.manual_seed(1000 * seed + i)
        b = make_batch(size)
        b["past_target"] = torch.randn_like(b["past_target"])
        b["future_target"] = torch.randn_like(b["future_target"])
        b["future_control"] = 3 * torch.randn_like(b["future_control"])
        out.append(b)
    return out


def logged_tails(m: WorldModel, data: list[dict[str, torch.Tensor]]) -> torch.Tensor:
    """Support of every logged control step (N, Ci): p-values when ``m`` is calibrated, else raw tails."""
    found = []
    with torch.no_grad():
        for batch in data:
            batch = m.normalise(batch)[0]
            q = m.policy(*policy_inputs(m, batch, batch["future_target"], batch["future_event"]))[:, :H]
            found.append(m.policy.support(q, m.levels, batch["future_control"][:, :H]).flatten(0, 1))
    return torch.cat(found)


def test_calibrated_tails_of_logged_controls_are_valid_p_values_where_the_raw_ones_are_not():
    m = model()
    raw = logged_tails(m, batches(1))
    calibration = calibrate(m, batches(0))
    held_out = logged_tails(m, batches(1))  # the same windows as ``raw``, not the calibration's
    assert (raw < 0.05).float().mean() > 0.3  # an untrained head: far too many logged steps look far out
    assert calibration.raw_below_005 == pytest.approx([float((raw[:, c] < 0.05).float().mean()) for c in range(2)],
                                                      abs=0.1)
    for c in range(2):
        for alpha in (0.05, 0.2, 0.5):
            assert (held_out[:, c] <= alpha).float().mean() <= alpha + 0.03, (c, alpha)
    assert calibration.count == [8 * 32 * H] * 2


def test_a_calibrated_p_value_is_monotone_one_at_one_and_never_below_one_over_n_plus_one():
    m = model()
    calibrate(m, batches(0, count=2))
    n = 2 * 32 * H
    u = torch.cat([-torch.logspace(6, -4, 200), torch.linspace(0, 1, 301)])[:, None].expand(501, 2)
    p = m.policy.calibrated(u)
    assert (p[1:] >= p[:-1]).all()
    assert torch.allclose(p[-1], torch.ones(2)) and (p >= 1 / (n + 1) - 1e-7).all()
    assert torch.allclose(p[0], torch.full((2,), 1 / (n + 1)))  # beyond every logged choice: the floor
    assert p[200, 0] > 0.1  # the untrained head put many logged steps beyond its quantiles: a raw tail of 0 is no evidence


def test_tail_score_is_the_tail_probability_inside_and_keeps_order_outside():
    levels = torch.tensor([0.1, 0.5, 0.9])
    knots = torch.tensor([[-1.0, 0.0, 1.0]]).expand(6, 3)
    x = torch.tensor([0.0, 0.5, 1.0, 1.5, 5.0, -50.0])
    score = tail_score(knots, levels, x)
    assert score[:3].tolist() == pytest.approx([1.0, 0.6, 0.2])
    assert torch.equal(tail_probability(knots, levels, x), score.clamp(0, 1))
    assert 0 > score[3] > score[4] > score[5]  # all 0 as tail probabilities


def test_an_uncalibrated_head_and_a_channel_never_set_keep_the_raw_tails():
    m = model()
    u = torch.rand(10, 2)
    assert torch.equal(m.policy.calibrated(u), u)
    data = batches(0, count=2)
    for b in data:
        b["future_control_mask"][..., 1] = 0  # the second control is never set in the calibration windows
    calibration = calibrate(m, data)
    assert calibration.count[1] == 0
    assert torch.equal(m.policy.calibrated(u)[:, 1], u[:, 1]) and not torch.equal(m.policy.calibrated(u)[:, 0], u[:, 0])


def test_the_calibration_travels_in_the_model_file(tmp_path):
    """It is kept in the file's meta (lists; loaded with weights_only), not in the state dict, so files
    written before it load as before and stay uncalibrated (load_bundle; the trained case is in
    tests/query/test_causal_controls.py)."""
    from tsloop.bundle import Bundle

    m = model()
    calibration = calibrate(m, batches(0, count=2))
    assert len(calibration.cdf[0]) == CALIBRATION_GRID.numel()
    assert not any("cal_" in key for key in m.state_dict())
    bundle = Bundle(model_config={"d_model": 4}, spec={"name": "t"}, scaler={"mean": [0.0]},
                    state_dict=m.state_dict(), meta={"policy_calibration": calibration.as_meta()})
    meta = Bundle.load(bundle.save(tmp_path / "model.pt")).meta["policy_calibration"]
    fresh = model()
    fresh.policy.set_calibration(meta)
    u = torch.rand(20, 2)
    assert torch.allclose(fresh.policy.calibrated(u), m.policy.calibrated(u))
    fresh.policy.set_calibration(None)
    assert torch.equal(fresh.policy.calibrated(u), u)
    with pytest.raises(ValueError, match="does not fit"):
        fresh.policy.set_calibration({"cdf": [[0.0] * 5] * 2, "count": [1, 1]})


def test_calibration_leaves_the_global_random_state_as_it_found_it():
    """Sampling after training draws what it would have drawn without the calibration (a DataLoader
    takes a seed from the global generator when it is iterated)."""
    from torch.utils.data import DataLoader

    m = model()
    data = [{k: v[i] for k, v in b.items()} for b in batches(0, count=1, size=8) for i in range(8)]
    torch.manual_seed(5)
    calibrate(m, DataLoader(data, batch_size=4))
    after = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(3))
