"""``tsloop probe`` end to end on the session's tiny trained model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

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


def _probe(trained, out) -> int:
    return main(["probe", "--model", str(trained.model), "--task", str(trained.task.path), "--k", "2,4",
                 "--families", "ridge,head", "--strides", "16,8,8", "--reps", "5", "--no-mlflow", "--out", str(out)])


def test_when_writing_a_plot_fails_mid_file_then_the_probe_report_leaves_no_partial_file(
    trained, tmp_path, monkeypatch, capsys
):
    real, calls = Figure.savefig, []

    def fails_on_the_third(self, fname, *args, **kwargs):
        calls.append(fname)
        if len(calls) < 3:
            return real(self, fname, *args, **kwargs)
        Path(fname).write_bytes(b"half a png")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", fails_on_the_third)
    assert _probe(trained, tmp_path) == 2
    assert "No space left on device" in capsys.readouterr().err
    files = sorted(p.name for p in tmp_path.iterdir())
    assert not [name for name in files if name.startswith(".")]  # no temporary file is left behind
    pngs = [tmp_path / name for name in files if name.endswith(".png")]
    assert len(pngs) == 2 and all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)  # the two before: whole
    assert set(files) - {p.name for p in pngs} == {"scores.csv", "per_step.csv"}  # no probe.json yet
    assert len(pd.read_csv(tmp_path / "scores.csv")) > 0 and len(pd.read_csv(tmp_path / "per_step.csv")) > 0


def test_when_the_second_table_fails_to_write_then_the_probe_report_has_neither(trained, tmp_path, monkeypatch, capsys):
    real, calls = pd.DataFrame.to_csv, []

    def fails_on_the_second(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) < 2:
            return real(self, path, *args, **kwargs)
        Path(path).write_text("half a ta")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", fails_on_the_second)
    assert _probe(trained, tmp_path) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
