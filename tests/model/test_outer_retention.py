"""outer_retention: each outer step keeps a learned share lambda of h_{k-1}, so the state remembers its context."""

import pytest
import torch

from tests.model.conftest import ALL_DIMS, make_batch, tiny_model
from tsloop.errors import SpecError
from tsloop.model import ModelConfig, WorldModel


def _memory(model: WorldModel, steps: int = 6) -> torch.Tensor:
    """Median ||h_k(h0) - h_k(h0')|| / ||h0 - h0'|| over pairs of windows rolled under the same drive."""
    model.eval()
    batch = make_batch(ALL_DIMS, batch=8, horizon=4 * steps)
    with torch.no_grad():
        h0 = model.encode(batch, model.new_run(8))
        swap = torch.roll(torch.arange(8), 1)
        a = model.imagine(h0, batch, model.new_run(8))
        b = model.imagine(h0[swap], batch, model.new_run(8))
    return ((a - b).norm(dim=-1) / (h0 - h0[swap]).norm(dim=-1)[:, None]).median(0).values


def test_state_remembers_its_start_for_longer_with_outer_retention():
    plain = _memory(tiny_model(ALL_DIMS, horizon=24))
    kept = _memory(tiny_model(ALL_DIMS, horizon=24, outer_retention=0.9))
    assert kept[-1] > 5 * plain[-1]  # after 6 outer steps (measured 0.63 vs 0.073)
    assert (kept > 0.9 ** torch.arange(1, 7) * 0.5).all()  # at least half of lambda^k survives


def test_lambda_starts_at_the_setting_is_learned_and_round_trips():
    model = tiny_model(ALL_DIMS, outer_retention=0.8)
    assert float(model.outer_lambda()) == pytest.approx(0.8, abs=1e-6)
    model.train()
    loss, _ = model.loss(make_batch(ALL_DIMS), step=100)
    loss.backward()
    assert model.outer_raw.grad is not None and torch.isfinite(model.outer_raw.grad)
    clone = WorldModel(ModelConfig.from_dict(model.cfg.to_dict()))
    clone.load_state_dict(model.state_dict())
    assert float(clone.outer_lambda()) == pytest.approx(0.8, abs=1e-6)


def test_on_by_default_off_at_zero_and_bounded():
    assert float(tiny_model(ALL_DIMS).outer_lambda()) == pytest.approx(0.5, abs=1e-6)  # the default since session 3
    assert not hasattr(tiny_model(ALL_DIMS, outer_retention=0.0), "outer_raw")
    with pytest.raises(SpecError, match="outer_retention"):
        tiny_model(ALL_DIMS, outer_retention=1.0)
