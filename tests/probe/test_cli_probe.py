"""``tsloop probe`` end to end on the session's tiny trained model."""

from __future__ import annotations

import pandas as pd

from tsloop.cli.main import main


def test_when_probing_a_tiny_model_beyond_its_horizon_then_scores_plots_and_a_run_are_written(trained, tmp_path, capsys):
    # the tiny model: patch_len 4, horizon 8 (2 outer steps); K = 4 rolls past the trained horizon
    code = main(["probe", "--model", str(trained.model), "--task", str(trained.task.path), "--k", "2,4",
                 "--modes", "imagined,teacher", "--families", "ridge,head", "--strides", "16,8,8",
                 "--reps", "5", "--out", str(tmp_path)])
    assert code == 0
    table = pd.read_csv(tmp_path / "scores.csv")
    assert set(table.K) == {2, 4}
    assert {"imagined", "teacher"} == set(table["mode"])
    r2 = table[(table.metric == "dense_r2") & (table.channel == "mean") & (table.family == "ridge")]
    assert r2["mean"].notna().all() and (r2["lo"] <= r2["hi"]).all()
    assert (tmp_path / "dense_r2_mean.png").is_file() and (tmp_path / "per_step.png").is_file()
    assert "MLflow run" in capsys.readouterr().out


def test_when_k_is_not_a_list_of_integers_then_the_cli_says_so(trained, capsys):
    code = main(["probe", "--model", str(trained.model), "--task", str(trained.task.path), "--k", "four"])
    assert code == 2
    assert "--k" in capsys.readouterr().err
