"""`tsloop forecast` with a pretrained model: no task file, any columns; bad requests exit 2 with
one clear message and leave no output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import PRETRAIN_HORIZON
from tsloop.cli.main import main
from tsloop.query import pretrained as pretrained_module


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zero_shot")
    n = 30
    t = pd.date_range("2024-03-01", periods=n, freq="15min")
    history = pd.DataFrame({"ts": t, "load": 50 + 10 * np.sin(np.arange(n) / 4), "other": np.arange(n) * 1.0})
    history.to_csv(folder / "my.csv", index=False)
    future = pd.DataFrame({"ts": pd.date_range(t[-1] + pd.Timedelta("15min"), periods=24, freq="15min"), "temp": 1.0})
    future.to_csv(folder / "known.csv", index=False)
    return folder


def test_when_a_pretrained_model_forecasts_a_csv_then_each_target_is_in_the_table(pretrained, files, tmp_path, capsys):
    out = tmp_path / "fc.csv"
    argv = ["forecast", "--model", str(pretrained.model), "--history", str(files / "my.csv"), "--timestamp", "ts",
            "--target", "load", "--target", "other", "--horizon", "24", "--future", str(files / "known.csv"),
            "--samples", "16", "--out", str(out)]
    assert main(argv) == 0
    table = pd.read_csv(out)
    assert len(table) == 2 * 24 and set(table["channel"]) == {"load", "other"}
    assert table["timestamp"].iloc[0] == "2024-03-01 07:30:00" and table["step"].max() == 24 > PRETRAIN_HORIZON
    assert (table["q0.05"] <= table["q0.95"]).all() and (table["q0.05"] < table["q0.95"]).any()
    printed = capsys.readouterr().out
    assert "each target forecast on its own" in printed and "known.csv) are not used" in printed


def test_when_the_target_flag_lists_columns_with_commas_then_both_are_forecast(pretrained, files, tmp_path):
    out = tmp_path / "fc.parquet"
    assert main(["forecast", "--model", str(pretrained.out), "--history", str(files / "my.csv"), "--timestamp",
                 "ts", "--target", "load,other", "--samples", "8", "--out", str(out)]) == 0
    assert set(pd.read_parquet(out)["channel"]) == {"load", "other"}


@pytest.mark.parametrize("extra, words", [
    (["--target", "lod"], ("'lod'", "did you mean 'load'")),
    ([], ("--target column",)),
    (["--target", "load", "--horizon", "1000"], ("horizon", "rolled forward")),
    (["--target", "load", "--freq", "1h"], ("not evenly spaced", "15")),
])
def test_when_a_zero_shot_request_is_bad_then_it_exits_2_with_a_clear_message_and_no_output(
    pretrained, files, tmp_path, capsys, extra, words
):
    out = tmp_path / "fc.csv"
    argv = ["forecast", "--model", str(pretrained.model), "--history", str(files / "my.csv"), "--timestamp", "ts",
            *extra, "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 1
    for word in words:
        assert word.lower() in err.lower(), (word, err)
    assert not out.exists()


def test_when_zero_shot_flags_go_to_a_task_model_then_it_says_they_are_for_a_pretrained_one(trained, files, tmp_path,
                                                                                              capsys):
    argv = ["forecast", "--model", str(trained.model), "--history", str(files / "my.csv"), "--target", "load",
            "--out", str(tmp_path / "fc.csv")]
    assert main(argv) == 2
    assert "for a pretrained model" in capsys.readouterr().err


def test_when_no_checkpoint_is_shipped_then_model_pretrained_exits_2_with_the_build_command(files, tmp_path, capsys,
                                                                                           monkeypatch):
    monkeypatch.setattr(pretrained_module, "shipped_path", lambda: tmp_path / "pretrained" / "tsloop-small.pt")
    argv = ["forecast", "--model", "pretrained", "--history", str(files / "my.csv"), "--timestamp", "ts",
            "--target", "load", "--out", str(tmp_path / "fc.csv")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no pretrained checkpoint is shipped" in err and "python -m pipelines.pretrain.train" in err


def test_when_a_pretrained_model_is_asked_a_whatif_then_it_says_to_fine_tune_one(pretrained, files, tmp_path, capsys):
    plan = files / "known.csv"
    other = tmp_path / "other.csv"
    other.write_text(plan.read_text())
    argv = ["whatif", "--model", str(pretrained.model), "--history", str(files / "my.csv"), "--plan", str(plan),
            "--plan", str(other), "--out", str(tmp_path / "w.json")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no interventions" in err and "--init" in err
