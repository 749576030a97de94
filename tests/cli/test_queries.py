"""CLI round trips on the shared tiny model: forecast -> whatif -> compare, and their errors."""

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import CONTEXT, HORIZON
from tsloop.cli.main import main


@pytest.fixture(scope="module")
def request_files(trained, tmp_path_factory):
    folder = tmp_path_factory.mktemp("requests")
    frame = trained.task.frame
    groups = [g for _, g in frame.groupby("series", sort=True)]
    t0 = 800
    history = pd.concat([g.iloc[t0 - CONTEXT : t0] for g in groups])
    future = pd.concat([g.iloc[t0 : t0 + HORIZON] for g in groups])
    keep = ["timestamp", "series", "temp_forecast", "hour_sin", "hour_cos", "dow_sin", "dow_cos"]
    plans = {
        "hold": future[keep + ["replicas", "cooling_setpoint", "rate_limit"]],
        "scale_out": future[keep + ["cooling_setpoint", "rate_limit"]].assign(
            replicas=np.minimum(future["replicas"] + 4, 16)
        ),
    }
    paths = {"history": folder / "history.csv", "future": folder / "future.parquet"}
    history.to_csv(paths["history"], index=False)
    plans["hold"].to_parquet(paths["future"], index=False)
    for name, plan in plans.items():
        paths[name] = folder / f"{name}.csv"
        plan.to_csv(paths[name], index=False)
    return paths


def test_when_forecasting_from_the_cli_then_a_table_and_summary_are_written(trained, request_files, tmp_path, capsys):
    out = tmp_path / "fc.parquet"
    code = main(["forecast", "--model", str(trained.out), "--history", str(request_files["history"]),
                 "--future", str(request_files["future"]), "--samples", "16", "--out", str(out)])
    assert code == 0
    table = pd.read_parquet(out)
    assert len(table[table["kind"] == "target"]) == 2 * HORIZON * 6
    assert "forecast of 2 series" in capsys.readouterr().out


def test_when_running_whatif_from_the_cli_then_effects_and_plans_are_written(trained, request_files, tmp_path, capsys):
    out = tmp_path / "whatif.json"
    code = main(["whatif", "--model", trained.run_id, "--history", str(request_files["history"]),
                 "--plan", str(request_files["hold"]), "--plan", str(request_files["scale_out"]),
                 "--objective", "mean:latency_p95", "--samples", "16", "--out", str(out)])
    assert code == 0
    effects = json.loads(out.read_text())
    assert {e["plan_a"] for e in effects} == {"hold"} and {e["plan_b"] for e in effects} == {"scale_out"}
    assert all({"support_a", "support_b", "flag", "prob_b_better_model"} <= set(e) for e in effects)
    plans = pd.read_parquet(tmp_path / "whatif_plans.parquet")
    assert set(plans["plan"]) == {"hold", "scale_out"}
    assert "P(scale_out better)" in capsys.readouterr().out


def test_when_a_plan_file_is_out_of_range_then_the_cli_exits_2_and_writes_nothing(
    trained, request_files, tmp_path, capsys
):
    bad = tmp_path / "bad.csv"
    pd.read_csv(request_files["scale_out"]).assign(cooling_setpoint=45.0).to_csv(bad, index=False)
    out = tmp_path / "whatif.json"
    code = main(["whatif", "--model", str(trained.model), "--history", str(request_files["history"]),
                 "--plan", str(request_files["hold"]), "--plan", str(bad), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "'bad'" in err and "cooling_setpoint" in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_when_the_model_file_is_corrupted_then_the_cli_exits_2_with_a_clear_message(request_files, tmp_path, capsys):
    broken = tmp_path / "model.pt"
    broken.write_bytes(b"not a model")
    code = main(["forecast", "--model", str(broken), "--history", str(request_files["history"]),
                 "--out", str(tmp_path / "fc.csv")])
    assert code == 2 and "not a readable tsloop model file" in capsys.readouterr().err


def test_when_comparing_runs_then_the_table_lists_them_with_metrics(trained, tmp_path, capsys):
    out = tmp_path / "runs.csv"
    code = main(["compare", "--experiment", "tsloop", "--metric", "val/crps", "--param", "model.d_model",
                 "--out", str(out), "--plot", "val/crps"])
    assert code == 0
    table = pd.read_csv(out)
    assert trained.run_id in set(table["run_id"])
    assert {"val/crps", "param:model.d_model"} <= set(table.columns)
    assert (tmp_path / "runs.png").stat().st_size > 1000
    assert main(["compare", "--experiment", "no-such-experiment"]) == 2
