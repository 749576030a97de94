"""Coda and output heads (tsloop/model/heads.py): shapes, monotone quantiles, their priors at start."""

from __future__ import annotations

import torch

from tsloop.model.heads import Coda, EventHead, QuantileHead

LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
B, K, D, P = 2, 3, 8, 4  # batch, patches, width, steps per patch


def _features(scale: float = 1.0, seed: int = 0) -> torch.Tensor:
    return scale * torch.randn(B, K, D, generator=torch.Generator().manual_seed(seed))


def test_when_features_are_zero_then_the_quantiles_are_the_standard_normal_ones():
    torch.manual_seed(0)
    head = QuantileHead(D, P, channels=2, levels=LEVELS)
    q = head(torch.zeros(B, K, D))
    normal = torch.special.ndtri(torch.tensor(LEVELS))
    assert q.shape == (B, K * P, 2, len(LEVELS))
    assert torch.allclose(q, normal.expand_as(q), atol=1e-5)


def test_when_features_are_large_then_quantiles_never_decrease_across_levels():
    torch.manual_seed(0)
    head = QuantileHead(D, P, channels=3, levels=LEVELS)
    with torch.no_grad():
        head.proj.weight.normal_(0, 5.0)  # far from the gentle initialisation
    q = head(_features(scale=10.0))
    assert torch.isfinite(q).all()
    assert (q.diff(dim=-1) >= 0).all()  # softplus increments: ties where they underflow, never a crossing
    assert (head.proj(_features(scale=10.0)).view_as(q).diff(dim=-1) < 0).any()  # the raw map alone would cross


def test_when_a_role_has_no_channels_then_the_heads_return_zero_width_outputs():
    f = _features()
    assert QuantileHead(D, P, channels=0, levels=LEVELS)(f).shape == (B, K * P, 0, len(LEVELS))
    assert EventHead(D, P, channels=0)(f).shape == (B, K * P, 0)


def test_when_features_are_zero_then_event_probabilities_are_the_rare_event_prior():
    torch.manual_seed(0)
    logits = EventHead(D, P, channels=2, prior=0.05)(torch.zeros(B, K, D))
    assert logits.shape == (B, K * P, 2)
    assert torch.allclose(torch.sigmoid(logits), torch.full_like(logits, 0.05), atol=1e-6)


def test_when_a_patch_changes_then_only_its_steps_change():
    torch.manual_seed(0)
    head = QuantileHead(D, P, channels=1, levels=LEVELS)
    f = _features()
    g = f.clone()
    g[:, 1] += 1.0  # the second patch only
    changed = (head(f) != head(g)).flatten(2).any(-1)  # (B, K*P)
    assert changed[:, P:2 * P].all() and not changed[:, :P].any() and not changed[:, 2 * P:].any()


def test_when_the_coda_decodes_then_it_keeps_the_shape_and_ignores_the_state_scale():
    torch.manual_seed(0)
    coda = Coda(D, hidden=16)
    h = _features()
    assert coda(h).shape == h.shape
    assert torch.allclose(coda(h), coda(3.0 * h), atol=1e-5)  # the LayerNorm first: scale-free
