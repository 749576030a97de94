"""The demo end to end at its --fast size: every stage runs and reports real numbers."""

import json

import mlflow
import numpy as np

from tsloop import tracking
from tsloop.cli.main import main


def test_when_the_fast_demo_runs_then_it_scores_forecasts_and_whatif_and_logs_them(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--fast", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    for needle in ("seasonal naive", "oracle", "picks the better plan", "mlflow ui --backend-store-uri"):
        assert needle in text, needle
    summary = json.loads((out / "summary.json").read_text())
    assert 0 < summary["crps_over_oracle_mean"] < np.inf and 0 < summary["crps_over_seasonal_naive_mean"] < np.inf
    assert summary["whatif_pairs"] == 4 and 0 <= summary["whatif_ranking_accuracy"] <= 1
    # the thread count changes the order of torch's sums, so a run says which it trained with
    assert summary["train_threads"] >= 1 and f"on {summary['train_threads']} CPU thread(s)" in text
    assert (out / "whatif_comparison.png").stat().st_size > 5000
    run_id = text.split("MLflow run ")[1].split(";")[0]
    run = mlflow.MlflowClient(tracking.tracking_uri()).get_run(run_id)
    assert "demo/crps_over_oracle_mean" in run.data.metrics
    assert run.data.tags["tsloop.demo"] == "fast"
