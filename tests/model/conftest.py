"""Shared helpers for the model tests: tiny configs and random batches of the batch contract."""

from __future__ import annotations

import pytest
import torch

from tsloop.data.batch import ChannelDims, empty_batch
from tsloop.model import ModelConfig, WorldModel

CONTEXT, HORIZON = 16, 8


def make_batch(dims: ChannelDims, batch: int = 4, context: int = CONTEXT, horizon: int = HORIZON,
               seed: int = 0, missing: float = 0.1) -> dict[str, torch.Tensor]:
    """A random batch with every contract key: scaled values, some missing targets, rare events."""
    gen = torch.Generator().manual_seed(seed)
    out = empty_batch(dims, batch, context, horizon)
    for key, value in out.items():
        if not value.dtype.is_floating_point or key.endswith("_mask"):
            continue
        if key.endswith("_event"):
            out[key] = (torch.rand(value.shape, generator=gen) < 0.1).float()
        else:
            out[key] = torch.randn(value.shape, generator=gen)
    for when in ("past", "future"):
        mask = (torch.rand(out[f"{when}_target"].shape, generator=gen) > missing).float()
        out[f"{when}_target_mask"] = mask
        out[f"{when}_target"] = out[f"{when}_target"] * mask  # missing values are zero-filled
    return out


def tiny_model(dims: ChannelDims, seed: int = 0, context: int = CONTEXT, horizon: int = HORIZON,
               **overrides) -> WorldModel:
    torch.manual_seed(seed)
    cfg = ModelConfig.preset("tiny", dims=dims, context_length=context, horizon=horizon, **overrides)
    return WorldModel(cfg)


ALL_DIMS = ChannelDims(target=2, past_exog=1, known_future=1, intervention=1, event=1, static=2)


@pytest.fixture
def dims() -> ChannelDims:
    return ALL_DIMS


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one intra-op thread is faster, and spin-waiting threads stall on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
