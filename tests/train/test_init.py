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
    named = report.copied + [f.split(" ")[0] for f in report.fresh + report.aligned]
    assert sorted(named) == sorted(state)
    for name in report.copied:
        assert torch.equal(state[name], source.state_dict[name]), name
    fresh = {f.split(" ")[0] for f in report.fresh}
    aligned = {f.split(" ")[0] for f in report.aligned}
    assert {"obs_embed.target.proj.weight"} <= fresh  # two targets read through one patch embedding: no carry-over
    assert {"position", "quantile_head.proj.weight", "rho_raw", "linear_path.context.weight"} <= aligned
    assert any(name.startswith("core.") and name.endswith("mixer.weight") for name in aligned)
    assert any(name.startswith("core.") for name in report.copied)
    assert "copied" in report.summary() and "fitted" in report.summary()
    assert 0 < report.copied_values < report.total_values


def test_when_the_context_is_longer_then_the_latest_positions_and_each_targets_head_carry_over(pretrained, data):
    _, _, spec = data
    source = Bundle.load(pretrained.model).state_dict
    model = WorldModel(init_config(str(pretrained.model), spec))
    initialise(model, str(pretrained.model))
    state = model.state_dict()
    n = source["position"].shape[0]  # fewer context patches there: they are this model's latest ones
    assert n < state["position"].shape[0]
    assert torch.equal(state["position"][-n:], source["position"])
    mixer = next(name for name in state if name.endswith("mixer.weight"))
    assert torch.equal(state[mixer][-n:, -n:], source[mixer])
    L = source["linear_path.context.weight"].shape[1]  # the direct map: latest context steps, first horizon steps
    assert torch.equal(state["linear_path.context.weight"][:, -L:], source["linear_path.context.weight"])
    assert torch.all(state["linear_path.context.weight"][:, :-L] == 0)  # the rest as a fresh model's: zero
    cfg = model.cfg
    heads = state["quantile_head.proj.weight"].reshape(cfg.patch_len, 2, len(cfg.quantiles), -1)
    theirs = source["quantile_head.proj.weight"].reshape(cfg.patch_len, len(cfg.quantiles), -1)
    assert torch.equal(heads[:, 0], theirs) and torch.equal(heads[:, 1], theirs)


def test_when_the_context_is_shorter_then_the_cut_mixer_keeps_its_certified_norm(pretrained):
    source = Bundle.load(pretrained.model)
    short = TaskSpec(target=["cpu"], freq="1h", context_length=16, horizon=PRETRAIN_HORIZON, timestamp="ts")
    model = WorldModel(init_config(str(pretrained.model), short))
    report = initialise(model, str(pretrained.model))
    mixer_name = next(name for name in model.state_dict() if name.endswith("mixer.weight"))
    assert any(entry.startswith(mixer_name) for entry in report.aligned)
    n = model.state_dict()[mixer_name].shape[0]
    assert torch.equal(model.state_dict()[mixer_name], source.state_dict[mixer_name][-n:, -n:])
    mixer = model.get_submodule(mixer_name.rsplit(".", 1)[0])
    with torch.no_grad():  # the power-iteration sigma of the cut block: its normalised weight has norm 1
        assert torch.linalg.matrix_norm(mixer.normalised_weight(False), ord=2).item() == pytest.approx(1.0, abs=1e-3)


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
    # the start validation preferred (adapt_start.py); on the pretrained forecast, the path fits what it leaves
    assert ("start: pretrained forecast (" in printed) != ("start: fresh head (" in printed)
    residual = "direct path: least squares on what the pretrained forecast leaves of" in printed
    assert residual == ("start: pretrained forecast (" in printed)
    source, tuned = Bundle.load(pretrained.model).state_dict, Bundle.load(out / "model.pt").state_dict
    model = WorldModel(init_config(str(pretrained.model), TaskSpec(target=["cpu", "mem"], freq="1h",
                                                                   context_length=CONTEXT, horizon=PRETRAIN_HORIZON)))
    report = initialise(model, str(pretrained.model))
    params = {name for name, _ in model.named_parameters()}
    frozen = [n for n in report.copied if n.startswith("core.") and n in params]
    assert frozen and all(torch.equal(tuned[n], source[n]) for n in frozen)
    trained_copies = [n for n in report.copied if not n.startswith("core.") and n in params]
    assert any(not torch.equal(tuned[n], source[n]) for n in trained_copies)  # heads and embeddings moved
    partial_core = {f.split(" ")[0] for f in report.fresh + report.aligned if f.startswith("core.")}
    assert partial_core and not partial_core & set(freeze(model, "heads", report))  # a part-fresh weight always trains
    run_id = json.loads((out / "run.json").read_text())["run_id"]
    run = mlflow.MlflowClient(tracking.tracking_uri()).get_run(run_id)
    assert int(run.data.params["init.frozen_tensors"]) == len(frozen)
    assert run.data.params["train.finetune"] == "heads"
    kept = run.data.params["init.start"]  # the start validation preferred, and both its scores
    assert f"start: {kept} (" in printed
    assert {"prefit/val_mse/pretrained_forecast", "prefit/val_mse/fresh_head"} <= set(run.data.metrics)


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


def test_when_the_task_has_inputs_the_pretrained_model_never_saw_then_they_start_silent(pretrained):
    from tsloop.data.batch import empty_batch

    spec = TaskSpec(target=["cpu"], known_future=["load", "price"], past_exog=["temp"], static=["size"], freq="1h",
                    context_length=32, horizon=PRETRAIN_HORIZON, timestamp="ts")
    model = WorldModel(init_config(str(pretrained.model), spec)).eval()
    report = initialise(model, str(pretrained.model))
    zeroed = [f.split(" ")[0] for f in report.fresh if f.endswith("; zero)")]
    assert any(name.startswith("drive_embed.known") for name in zeroed)
    assert any(name.startswith("drive_embed.static") for name in zeroed)
    batch = empty_batch(model.cfg.dims, 4, 32, PRETRAIN_HORIZON)
    generator = torch.Generator().manual_seed(0)
    batch["past_target"] = torch.randn(4, 32, 1, generator=generator)
    batch["past_target_mask"] = torch.ones(4, 32, 1)
    outputs = []
    for scale in (0.0, 3.0):  # the covariates' values do not move the untrained adapted model
        for key in ("past_known", "future_known", "past_exog", "static"):
            batch[key] = scale * torch.randn(batch[key].shape, generator=generator)
        with torch.no_grad():
            outputs.append(model(batch).quantiles)
    assert torch.allclose(outputs[0], outputs[1])
