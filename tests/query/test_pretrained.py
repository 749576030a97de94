"""Loading a pretrained model: the shipped one (or the error that none is), a file by path, and
the checks on its checksum file, its weights and its pretrained record."""

from __future__ import annotations

import shutil

import pytest
import torch

from tsloop import Forecaster
from tsloop.errors import CheckpointError
from tsloop.query import pretrained as pretrained_module


def test_when_no_checkpoint_is_shipped_then_pretrained_says_so_and_how_to_build_one(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained_module, "shipped_path", lambda: tmp_path / "pretrained" / "tsloop-small.pt")
    with pytest.raises(CheckpointError, match="no pretrained checkpoint is shipped") as err:
        Forecaster.pretrained()
    assert "python -m pipelines.pretrain.train" in str(err.value)
    with pytest.raises(CheckpointError, match="no pretrained checkpoint is shipped"):
        Forecaster.load("pretrained")


def test_when_a_pretrained_file_is_given_then_it_loads_as_a_pretrained_forecaster(pretrained):
    fc = Forecaster.pretrained(pretrained.model)
    assert fc.is_pretrained and fc.model.cfg.target == 1 and not fc.model.training
    assert Forecaster.pretrained(pretrained.out).is_pretrained  # its folder
    assert Forecaster.load(pretrained.model).is_pretrained


def test_when_the_package_ships_a_checkpoint_then_pretrained_loads_it(pretrained, tmp_path, monkeypatch):
    shipped = tmp_path / "pretrained" / "tsloop-small.pt"
    shipped.parent.mkdir()
    shutil.copy(pretrained.model, shipped)
    monkeypatch.setattr(pretrained_module, "shipped_path", lambda: shipped)
    with pytest.raises(CheckpointError, match="no checksum file"):  # the shipped one must carry its sha256
        Forecaster.pretrained()
    shutil.copy(pretrained.out / "model.pt.sha256", shipped.with_name("tsloop-small.pt.sha256"))
    fc = Forecaster.pretrained()
    assert fc.is_pretrained
    assert Forecaster.load("pretrained").model.cfg == fc.model.cfg


def test_when_the_file_does_not_match_its_checksum_file_then_it_is_refused(pretrained, tmp_path):
    path = tmp_path / "model.pt"
    shutil.copy(pretrained.model, path)
    (tmp_path / "model.pt.sha256").write_text("0" * 64 + "  model.pt\n")
    with pytest.raises(CheckpointError, match="does not match its checksum file"):
        Forecaster.pretrained(path)
    with pytest.raises(CheckpointError, match="does not match its checksum file"):
        Forecaster.load(path)


def test_when_the_weights_were_changed_then_the_bundle_checksum_refuses_them(pretrained, tmp_path):
    payload = torch.load(pretrained.model, map_location="cpu", weights_only=True)
    name = next(iter(payload["state_dict"]))
    payload["state_dict"][name] = payload["state_dict"][name] + 1.0
    torch.save(payload, tmp_path / "model.pt")  # no .sha256 beside it: the weights' own checksum catches it
    with pytest.raises(CheckpointError, match="corrupted"):
        Forecaster.pretrained(tmp_path / "model.pt")


def test_when_a_task_model_is_given_as_pretrained_then_the_error_says_what_it_is(trained):
    with pytest.raises(CheckpointError, match="trained for one task, not a pretrained model"):
        Forecaster.pretrained(trained.model)
    assert not Forecaster.load(trained.model).is_pretrained


def test_the_shipped_checkpoint_loads_and_continues_a_daily_cycle_better_than_its_mean():
    import numpy as np
    import pandas as pd

    fc = Forecaster.pretrained()  # tsloop/pretrained/tsloop-small.pt, checked against its .sha256
    assert fc.is_pretrained and fc.model.cfg.context_length == 512 and fc.model.cfg.horizon == 64
    t = np.arange(24 * 30)
    load = 50 + 10 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(0).normal(0, 0.5, t.size)
    history = pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=t.size, freq="h"), "load": load})
    result = fc.zero_shot(history.iloc[:-48], ["load"], timestamp="ts", horizon=48, num_samples=64)
    median = np.median(result.samples[:, 0, :, 0], axis=0)
    truth = load[-48:]
    assert np.mean((median - truth) ** 2) < 0.25 * np.var(truth)  # the cycle, not a flat line
