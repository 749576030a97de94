"""The probes' ``head`` family is the model's own forecast: its decoder plus the direct linear path."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from tsloop.forecaster import Forecaster
from tsloop.probe.latents import collect, probe_task


def test_when_the_decoder_says_nothing_the_head_still_forecasts_what_the_direct_path_does(trained):
    model = Forecaster.load(trained.model).model.eval()
    with torch.no_grad():  # the decoder now gives the same output for any state: only the direct path moves
        for p in model.quantile_head.parameters():
            p.zero_()
    cfg = model.cfg
    k = cfg.horizon // cfg.patch_len
    task = probe_task(trained.task.path, cfg.context_length, cfg.patch_len, k)
    data = collect(model, task, "test", k_max=k, stride=8)
    median = int(np.argmin(np.abs(np.asarray(cfg.quantiles) - 0.5)))
    with torch.no_grad():
        forecast = np.concatenate([model(b).quantiles[..., median].numpy()
                                   for b in DataLoader(task.dataset("test", stride=8), batch_size=64)])
    head = data.head_scaled.reshape(forecast.shape)
    assert forecast.std(axis=(0, 1)).min() > 1e-3  # the direct path moves the forecast between windows and steps
    np.testing.assert_allclose(head, forecast, rtol=1e-4, atol=1e-4)
