"""Adapting a pretrained model to a task: its size, the weights that fit copied exactly, and a
frozen looped core that does not move while the rest trains."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import PRETRAIN_HORIZON
from tsloop import Forecaster, tracking
from tsloop.bundle import Bundle
from tsloop.cli.main import main
from tsloop.data.spec import TaskSpec
from tsloop.errors import SpecError
from tsloop.model import WorldModel
from tsloop.train.config import TrainConfig
from tsloop.train.init import freeze, init_config, initialise

CONTEXT = 48  # not the pretrained model's 32: the context's position and token-mixing maps change shape
FIT = {"max_steps": 3, "batch_size": 16, "progress_bar": False, "limit_val_batches": 2, "val_check_steps": 3}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    n = 400
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=n, freq="h"),
                          "cpu": 50 + 10 * np.sin(np.arange(n) / 4) + rng.normal(size=n),
                          "mem": 5 + np.cos(np.arange(n) / 7) + 0.1 * rng.normal(size=n)})
    path = tmp_path_factory.mktemp("init_data") / "hosts.csv"
    frame.to_csv(path, index=False)
    spec = TaskSpec(target=["cpu", "mem"], freq="1h", context_length=CONTEXT, horizon=PRETRAIN_HORIZON, timestamp="ts")
    return frame, path, spec


def test_when_initialised_then_every_weight_that_fits_is_copied_exactly_and_the_rest_named(pretrained, data):
    _, _, spec = data
    cfg = init_config(str(pretrained.model), spec)
    source = Bundle.load(pretrained.model)
    assert (cfg.d_model, cfg.patch_len, cfg.mean_depth) == tuple(source.model_config[k] for k in
                                                                  ("d_model", "patch_len", "mean_depth"))
    assert (cfg.target, cfg.context_length, cfg.horizon) == (2, CONTEXT, PRETRAIN_HORIZON)
    model = WorldModel(cfg)
    report = initialise(model, str(pretrained.model))
    state = model.state_dict()
    assert sorted(report.copied + [f.split(" ")[0] for f in report.fresh]) == sorted(state)
    for name in report.copied:
        assert torch.equal(state[name], source.state_dict[name]), name
    fresh = {f.split(" ")[0] for f in report.fresh}
    assert {"position", "obs_embed.target.proj.weight", "quantile_head.proj.weight"} <= fresh
    assert any(name.startswith("core.") for name in fresh)  # the token mixer: another context length
    assert any(name.startswith("core.") for name in report.copied)
    assert "copied" in report.summary() and 0 < report.copied_values < report.total_values


def test_when_fine_tuning_heads_then_the_copied_core_stays_and_everything_else_trains(pretrained, data, tmp_path, capsys):
    _, path, _ = data
    out = tmp_path / "heads"
    argv = ["train", "--data", str(path), "--timestamp", "ts", "--freq", "1h", "--target", "cpu,mem",
            "--context", str(CONTEXT), "--horizon", str(PRETRAIN_HORIZON), "--init", str(pretrained.model),
            "--finetune", "heads", "--max-steps", "3", "--batch-size", "16", "--no-progress",
            "--limit-val-batches", "2", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "init from" in printed and "frozen:" in printed and "of the looped core" in printed
    source, tuned = Bundle.load(pretrained.model).state_dict, Bundle.load(out / "model.pt").state_dict
    model = WorldModel(init_config(str(pretrained.model), TaskSpec(target=["cpu", "mem"], freq="1h",
                                                                   context_length=CONTEXT, horizon=PRETRAIN_HORIZON)))
    report = initialise(model, str(pretrained.model))
    params = {name for name, _ in model.named_parameters()}
    frozen = [n for n in report.copied if n.startswith("core.") and n in params]
    assert frozen and all(torch.equal(tuned[n], source[n]) for n in frozen)
    trained_copies = [n for n in report.copied if not n.startswith("core.") and n in params]
    assert any(not torch.equal(tuned[n], source[n]) for n in trained_copies)  # heads and embeddings moved
    fresh_core = {f.split(" ")[0] for f in report.fresh if f.startswith("core.")}
    assert fresh_core and not fresh_core & set(freeze(model, "heads", report))  # a fresh weight always trains
    run_id = json.loads((out / "run.json").read_text())["run_id"]
    run = mlflow.MlflowClient(tracking.tracking_uri()).get_run(run_id)
    assert int(run.data.params["init.frozen_tensors"]) == len(frozen)
    assert run.data.params["train.finetune"] == "heads"


def test_when_fine_tuning_all_then_the_core_trains_too(pretrained, data, tmp_path):
    frame, _, spec = data
    fc = Forecaster.fit(frame, spec, out_dir=tmp_path / "all",
                        train_options={**FIT, "init": str(pretrained.model), "finetune": "all"})
    source, tuned = Bundle.load(pretrained.model).state_dict, fc.model.state_dict()
    core = [n for n, p in fc.model.named_parameters() if n.startswith("core.") and n in source
            and source[n].shape == p.shape]
    assert any(not torch.equal(tuned[n], source[n]) for n in core)
    assert fc.model.cfg.d_model == Bundle.load(pretrained.model).model_config["d_model"]


def test_when_finetune_is_misused_then_the_error_says_what_to_give():
    with pytest.raises(SpecError, match="--init pretrained or --init PATH"):
        TrainConfig(finetune="heads")
    with pytest.raises(SpecError, match="finetune must be one of"):
        TrainConfig(init="x.pt", finetune="core")


def test_when_the_init_file_is_missing_then_training_exits_2_naming_it(data, tmp_path, capsys):
    _, path, _ = data
    argv = ["train", "--data", str(path), "--timestamp", "ts", "--freq", "1h", "--target", "cpu", "--context", "32",
            "--horizon", "8", "--init", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--init" in err and "nope.pt" in err and "pretrained" in err and "Traceback" not in err
