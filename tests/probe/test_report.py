"""Probe results as tables, plots and MLflow metrics (tsloop/probe/report.py), from a hand-made score table."""

from __future__ import annotations

import math

import pandas as pd

from tsloop.probe.report import flat_metrics, markdown, plot_steps, plot_vs_k


def _row(metric, channel, k, mean, family="ridge", mode="imagined", model="tsloop", spread=0.1):
    return {"model": model, "mode": mode, "family": family, "metric": metric, "channel": channel, "K": k,
            "mean": mean, "lo": mean - spread, "hi": mean + spread}


def _table() -> pd.DataFrame:
    rows = [_row("dense_r2", "mean", k, 0.5 + 0.1 * i) for i, k in enumerate((2, 4))]
    rows += [_row("dense_r2", "mean", 2, 0.3, family="head"), _row("dense_r2", "mean", 4, math.nan, family="head")]
    rows += [_row("dense_r2", "cpu", 2, 0.9)]  # a channel of its own, not the mean
    rows += [_row("step_auprc", "slo_breach", k, 0.4) for k in (2, 4)]
    rows += [_row("step_base", "slo_breach", k, 0.05, spread=0.0) for k in (2, 4)]
    return pd.DataFrame(rows)


def test_when_a_metric_is_tabled_then_each_model_latents_and_probe_is_a_row_and_each_k_a_column():
    assert markdown(_table(), "dense_r2").splitlines() == [
        "| model | latents | probe | K=2 | K=4 |",
        "|---|---|---|---|---|",
        "| tsloop | imagined | head | 0.300 [0.200, 0.400] | – |",
        "| tsloop | imagined | ridge | 0.500 [0.400, 0.600] | 0.600 [0.500, 0.700] |",
    ]


def test_when_an_event_metric_has_a_base_rate_then_the_table_ends_with_it():
    lines = markdown(_table(), "step_auprc", "slo_breach").splitlines()
    assert lines[-1] == "| *base rate (chance AUPRC)* | | | 0.050 | 0.050 |"
    assert len(lines) == 4


def test_when_a_metric_or_channel_has_no_scores_then_the_table_is_empty():
    assert markdown(_table(), "timing_mae", "slo_breach") == ""
    assert markdown(_table(), "dense_r2", "latency_p95") == ""


def test_when_scores_are_flattened_then_every_bound_is_a_metric_and_missing_cells_are_left_out():
    table = _table()
    table.loc[0, "model"] = "tsloop small"
    metrics = flat_metrics(table)
    assert metrics["tsloop_small.imagined.ridge.dense_r2.mean.K2.lo"] == 0.4
    assert metrics["tsloop.imagined.head.dense_r2.mean.K2.hi"] == 0.4
    assert not any(name.startswith("tsloop.imagined.head.dense_r2.mean.K4") for name in metrics)
    assert len(metrics) == 3 * (len(table) - 1)


def test_when_scores_are_plotted_then_one_png_per_headline_metric_and_event_channel_is_written(tmp_path):
    paths = plot_vs_k(_table(), tmp_path / "plots", title="fleet: ")
    assert [p.name for p in paths] == ["dense_r2_mean.png", "step_auprc_slo_breach.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)


def test_when_per_step_curves_are_plotted_then_one_figure_is_written(tmp_path):
    curves = pd.DataFrame([{"model": "tsloop", "mode": "imagined", "family": family, "metric": metric, "k": k,
                            "mean": 0.1 * k} for family in ("ridge", "mlp") for k in (1, 2, 3)
                           for metric in ("dense_r2", "detail_r2", "step_auprc", "step_base")])
    path = plot_steps(curves, tmp_path)
    assert path == tmp_path / "per_step.png" and path.read_bytes()[:4] == b"\x89PNG"
