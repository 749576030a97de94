"""``tsloop compare`` (tsloop/cli/compare.py): runs side by side, written and plotted on request."""

from __future__ import annotations

import pandas as pd
import pytest

from tsloop.cli.main import main
from tsloop.tracking.record import log_result

EXPERIMENT = "tests-cli-compare"


@pytest.fixture(scope="module")
def runs():
    return [log_result(EXPERIMENT, name, metrics={"val/crps": crps}, tags={"suite": suite})
            for name, crps, suite in (("a", 0.3, "x"), ("b", 0.2, "y"))]


def test_when_runs_are_compared_then_the_table_is_printed_written_and_plotted(runs, tmp_path, capsys):
    out = tmp_path / "runs.csv"
    assert main(["compare", "--experiment", EXPERIMENT, "--metric", "val/crps", "--out", str(out),
                 "--plot", "val/crps"]) == 0
    printed = capsys.readouterr().out
    assert "val/crps" in printed and f"plot -> {out.with_suffix('.png')}" in printed
    table = pd.read_csv(out)
    assert table["run_id"].tolist() == runs[::-1] and table["val/crps"].tolist() == [0.2, 0.3]
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_when_a_tag_filter_matches_nothing_then_it_says_so_and_succeeds(runs, capsys):
    assert main(["compare", "--experiment", EXPERIMENT, "--tag", "suite=none"]) == 0
    assert capsys.readouterr().out.strip() == "no runs found"


@pytest.mark.parametrize("argv, message", [
    (["--tag", "suite"], "--tag 'suite': expected KEY=VALUE"),
    (["--plot", "val/mae"], "--plot 'val/mae': no such metric"),
])
def test_when_a_flag_is_malformed_then_exit_2_names_it(runs, tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)  # a plot would land in ./compare.png
    assert main(["compare", "--experiment", EXPERIMENT, *argv]) == 2
    assert message in capsys.readouterr().err
