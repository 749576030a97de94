"""``tsloop data check`` through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tsloop.cli.main import main
from tsloop.data.spec import data_root

TASKS = Path(__file__).resolve().parents[2] / "tasks"
pytestmark = pytest.mark.skipif(not (data_root() / "epf").is_dir(), reason="shared data root not found")


def test_when_checking_epf_np_then_roles_and_split_sizes_are_printed(capsys):
    assert main(["data", "check", "--task", str(TASKS / "epf_np.yaml")]) == 0
    out = capsys.readouterr().out
    assert "52,416 rows, 1 series" in out
    assert "known_future  ' Grid load forecast', ' Wind power forecast'" in out
    assert "train    36,691 rows" in out and "val       5,242 rows" in out and "test     10,483 rows" in out


def test_when_a_column_is_misspelt_then_exit_2_names_it_without_traceback(tmp_path, capsys):
    raw = yaml.safe_load((TASKS / "epf_np.yaml").read_text())
    raw["known_future"] = [" Grid load forcast", " Wind power forecast"]
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(raw))
    assert main(["data", "check", "--task", str(tmp_path / "task.yaml")]) == 2
    err = capsys.readouterr().err
    assert "' Grid load forcast' (known_future) not found" in err and "' Grid load forecast'" in err
    assert "Traceback" not in err


def test_when_flags_replace_the_task_file_then_json_is_printed(capsys):
    argv = ["data", "check", "--data", "shared:ett/ETTh1.csv.gz", "--timestamp", "date", "--target", "OT",
            "--past-exog", "HUFL,HULL", "--freq", "1h", "--context", "96", "--horizon", "96",
            "--boundaries", "8640,11520,14400", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["parts"]["train"]["rows"] == 8640 and summary["roles"]["past_exog"] == ["HUFL", "HULL"]


def test_when_flags_are_incomplete_then_exit_2_lists_them(capsys):
    assert main(["data", "check", "--data", "x.csv", "--target", "y"]) == 2
    assert "--freq, --context, --horizon" in capsys.readouterr().err
