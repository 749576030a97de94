"""Pretraining: the corpus as univariate series, validation on synthetic tails only, and the
pretrained model file with its compute record (MLflow too), resumable."""

from __future__ import annotations

import hashlib
import json
import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest

from pipelines.pretrain.train import PretrainConfig, corpus_frame, main, pretrain_task
from tests.conftest import PRETRAIN_CONTEXT, PRETRAIN_FLAGS, PRETRAIN_HORIZON, PRETRAIN_STEPS, build_tiny_corpus
from tsloop.bundle import Bundle
from tsloop.data import split as splits
from tsloop.query.pretrained import FORMAT, file_sha256
from tsloop.tracking.store import tracking_uri

CONFIG = PretrainConfig(preset="tiny", context=PRETRAIN_CONTEXT, horizon=PRETRAIN_HORIZON, val_rows=16, min_length=20)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_tiny_corpus(tmp_path_factory.mktemp("corpus"))


def test_when_the_corpus_is_read_then_each_target_column_of_each_series_is_one_series(corpus):
    frame, synthetic, counts = corpus_frame(corpus, CONFIG)
    sources = {s.split("|")[0] for s in frame["series"].unique()}
    assert sources == {"kernelsynth", "controlled", "tumour"}
    assert {s.split("|")[2] for s in frame["series"].unique()} == {"value", "y", "cancer_volume"}  # targets only
    assert synthetic == {s for s in frame["series"].unique() if s.startswith(("kernelsynth", "controlled"))}
    assert frame["series"].iloc[0] in synthetic  # synthetic series first: the first series has a validation part
    kernel = pd.read_parquet(corpus / "kernelsynth.parquet")
    one = frame[frame["series"] == "kernelsynth|kernelsynth/000000|value"]
    np.testing.assert_array_equal(one["value"], kernel[kernel["series_id"] == "kernelsynth/000000"]["value"])
    assert counts["kept"] == frame["series"].nunique() and counts["dropped_short"] > 0 and counts["padded"] > 0


def test_when_a_series_is_short_then_it_is_dropped_or_left_padded_with_missing_rows(corpus):
    frame, _, _ = corpus_frame(corpus, CONFIG)
    tumour = pd.read_parquet(corpus / "tumour.parquet")
    lengths = tumour.groupby("series_id").size()
    need = PRETRAIN_CONTEXT + PRETRAIN_HORIZON
    for sid, n in lengths.items():
        rows = frame[frame["series"] == f"tumour|{sid}|cancer_volume"]
        if n < CONFIG.min_length:
            assert rows.empty
        elif n < need:
            assert len(rows) == need and rows["value"].iloc[: need - n].isna().all()
            assert rows["value"].iloc[need - n :].notna().all() and (np.diff(rows["step"]) == 1).all()
        else:
            assert len(rows) == n


def test_when_the_task_is_split_then_only_synthetic_tails_validate_and_training_never_reads_them(corpus):
    task, _ = pretrain_task(corpus, CONFIG)
    for s, sid in enumerate(task.series_ids):
        parts, n = task.parts(s), len(task.series[s])
        val = splits.window_starts(parts["val"], task.spec)
        train_end = (splits.window_starts(parts["train"], task.spec) + PRETRAIN_CONTEXT + PRETRAIN_HORIZON).max(initial=0)
        if sid.startswith(("kernelsynth", "controlled")):
            assert parts["val"].own_start == n - CONFIG.val_rows and len(val)
            assert train_end <= n - CONFIG.val_rows  # no training window reaches the held-out rows
        else:
            assert not len(val) and parts["train"].end == n
        assert not len(splits.window_starts(parts["test"], task.spec))
    assert len(task.dataset("val")) == task.sizes()["val"]["windows"] > 0


def test_when_pretrained_then_the_model_file_records_the_window_corpus_and_compute(pretrained):
    bundle = Bundle.load(pretrained.model)
    record = bundle.meta["pretrained"]
    assert record["format"] == FORMAT and record["channel_independent"] and record["covariates"] == "none"
    assert (record["context_length"], record["horizon"]) == (PRETRAIN_CONTEXT, PRETRAIN_HORIZON)
    assert bundle.model_config["target"] == 1 and bundle.model_config["known_future"] == 0
    manifest = (pretrained.corpus / "manifest.json").read_bytes()
    assert record["corpus"]["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    compute = json.loads((pretrained.out / "compute.json").read_text())
    assert compute == record["compute"]
    assert compute["steps"] == PRETRAIN_STEPS and compute["device"] == "cpu" and compute["wall_time_s"] > 0
    side = (pretrained.out / "model.pt.sha256").read_text().split()
    assert side == [file_sha256(pretrained.model), "model.pt"]


def test_when_pretrained_then_mlflow_holds_the_compute_and_the_model_file(pretrained):
    client = mlflow.MlflowClient(tracking_uri())
    run = client.get_run(pretrained.run_id)
    assert run.data.metrics["compute/steps"] == PRETRAIN_STEPS and run.data.tags["tsloop.device"] == "cpu"
    assert run.data.params["pretrain.preset"] == "tiny" and "val/crps" in run.data.metrics
    assert {"pretrained/model.pt", "pretrained/model.pt.sha256", "pretrained/compute.json"} <= {
        f.path for f in client.list_artifacts(pretrained.run_id, "pretrained")}


def test_when_resumed_with_a_larger_budget_then_it_continues_in_the_same_run_and_adds_its_compute(
    pretrained, tmp_path, capsys
):
    out = tmp_path / "run"
    shutil.copytree(pretrained.out, out)
    argv = ["--corpus", str(pretrained.corpus), "--out", str(out), *PRETRAIN_FLAGS]
    assert main([*argv, "--max-steps", str(PRETRAIN_STEPS + 2), "--resume"]) == 0
    compute = json.loads((out / "compute.json").read_text())
    assert compute["steps"] == PRETRAIN_STEPS + 2 and len(compute["segments"]) == 2
    assert json.loads((out / "run.json").read_text())["run_id"] == pretrained.run_id
    assert f"pretrained {PRETRAIN_STEPS + 2} optimizer steps" in capsys.readouterr().out


def test_when_continued_from_a_pretrained_model_then_its_record_counts_that_models_pretraining_too(
    pretrained, tmp_path, capsys
):
    out = tmp_path / "continued"
    argv = ["--corpus", str(pretrained.corpus), "--out", str(out), *PRETRAIN_FLAGS, "--init", str(pretrained.model)]
    assert main([*argv, "--max-steps", "3"]) == 0
    first = json.loads((pretrained.out / "compute.json").read_text())
    compute = json.loads((out / "compute.json").read_text())
    assert compute["steps"] == PRETRAIN_STEPS + 3
    assert compute["windows_seen"] == first["windows_seen"] + 3 * 16
    assert [s["steps_at_end"] for s in compute["segments"]] == [PRETRAIN_STEPS, PRETRAIN_STEPS + 3]
    assert compute["started_from"]["sha256"] == file_sha256(pretrained.model)
    assert Bundle.load(out / "model.pt").meta["pretrained"]["compute"] == compute
    # resumed, it keeps counting from the same start, without counting the first model twice
    assert main([*argv, "--max-steps", "5", "--resume"]) == 0
    resumed = json.loads((out / "compute.json").read_text())
    assert resumed["steps"] == PRETRAIN_STEPS + 5 and len(resumed["segments"]) == 3
    assert resumed["started_from"] == compute["started_from"]
    assert f"pretrained {PRETRAIN_STEPS + 5} optimizer steps" in capsys.readouterr().out


def test_when_the_corpus_has_no_synthetic_series_then_pretraining_says_where_validation_lives(tmp_path, capsys):
    from pipelines.pretrain.corpus import CorpusConfig, build

    build(tmp_path / "c", CorpusConfig(real=False, fleets=0, cohorts=1, patients=20, synthetic=0, controlled=0))
    assert main(["--corpus", str(tmp_path / "c"), "--out", str(tmp_path / "o"), *PRETRAIN_FLAGS]) == 2
    assert "no synthetic series" in capsys.readouterr().err
