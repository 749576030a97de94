"""What-if results from hand-built forecasts: support per plan, tempered effects, the summary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tsloop.query.objective import Objective
from tsloop.query.results import ForecastResult
from tsloop.query.whatif import compare

S, B, H = 400, 2, 3
OBJECTIVE = Objective("mean", "latency")


def forecast_result(shift: float, support: np.ndarray | None, mask: np.ndarray | None = None) -> ForecastResult:
    """Latency paths shared by every plan (common random numbers) moved by ``shift``."""
    latency = np.random.default_rng(0).normal(10.0, 1.0, size=(S, B, H, 1)) + shift
    return ForecastResult(
        series_ids=["c0", "c1"], timestamps=[np.arange(1, H + 1)] * B, targets=["latency"], events=[],
        samples=latency, event_samples=np.zeros((S, B, H, 0)), event_prob=np.zeros((B, H, 0)),
        control_support=support, control_mask=mask,
    )


@pytest.fixture
def answer():
    """'scale_out' lowers latency by 1 on every path; it is supported for c0 (tail 0.15 where it
    sets the control, support 2 min(2 x 0.15, 2 x 0.15) = 0.6; its 0.0001 is on a step it does not
    set) and unsupported for c1 (tail 0.00075 at every step: 2 min(2 x 0.00075, 3 x 0.00075) =
    0.003). 'hold' has tail 0.1 at every step (support 2 x 2 x 0.1 = 0.4)."""
    hold = np.full((B, H, 1), 0.1)
    out = np.full((B, H, 1), 0.15)
    out[0, 2, 0] = 0.0001
    out[1, :, 0] = 0.00075
    mask = np.ones((B, H, 1), dtype=bool)
    mask[0, 2, 0] = False
    return compare({"hold": forecast_result(0.0, hold), "scale_out": forecast_result(-1.0, out, mask)}, OBJECTIVE)


def test_when_forecasts_carry_control_support_then_each_plan_is_scored_per_series(answer):
    assert answer.support["hold"] == pytest.approx([0.4, 0.4])
    assert answer.support["scale_out"] == pytest.approx([0.6, 0.003])
    table = answer.plans_support_frame()
    assert table[["series_id", "plan", "flag"]].to_dict("records") == [
        {"series_id": "c0", "plan": "hold", "flag": "supported"},
        {"series_id": "c1", "plan": "hold", "flag": "supported"},
        {"series_id": "c0", "plan": "scale_out", "flag": "supported"},
        {"series_id": "c1", "plan": "scale_out", "flag": "unsupported"},
    ]
    assert table["support"].tolist() == pytest.approx([0.4, 0.4, 0.6, 0.003])


def test_when_a_plan_is_unsupported_then_the_effects_frame_shows_the_tempered_answer(answer):
    effects = answer.effects_frame().set_index("series_id")
    assert {"support_a", "support_b", "flag", "prob_b_better_model"} <= set(effects.columns)
    c0, c1 = effects.loc["c0"], effects.loc["c1"]
    assert (c0["prob_b_better"], c0["prob_b_better_model"], c0["flag"]) == (1.0, 1.0, "supported")
    assert c0["effect_q0.050"] == pytest.approx(-1.0) and c0["effect_q0.950"] == pytest.approx(-1.0)
    assert (c1["prob_b_better"], c1["prob_b_better_model"], c1["flag"]) == (0.5, 1.0, "unsupported")
    assert (c1["support_a"], c1["support_b"]) == pytest.approx((0.4, 0.003))
    assert c1["effect_mean"] == pytest.approx(-1.0)
    assert c1["effect_q0.050"] <= -2.0 + 1e-9 and c1["effect_q0.950"] >= 0.0


def test_when_a_plan_is_unsupported_then_the_summary_says_so_under_its_effect(answer):
    lines = answer.summary().splitlines()
    c1 = lines[lines.index("series c1:"):]
    assert any("scale_out" in line and "support 0.003 (unsupported)" in line for line in c1)
    assert any("hold" in line and "support 0.4 (supported)" in line for line in c1)
    effect = next(i for i, line in enumerate(c1) if line.startswith("  scale_out - hold:"))
    assert "P(scale_out better) = 0.50" in c1[effect]
    assert c1[effect + 1] == (
        "  ! plan 'scale_out' is outside what the training log shows the operator doing in this state "
        "(support 0.003): the effect rests on extrapolation; P(better) is shown tempered toward 0.5 and "
        "its interval widened (model: 1.00)."
    )
    c0 = lines[: lines.index("series c1:")]
    assert not any(line.startswith("  !") for line in c0) and "P(scale_out better) = 1.00" in "\n".join(c0)
    assert not any("overlap: not checked" in line for line in lines)


def test_when_a_forecast_has_no_control_support_then_overlap_is_not_checked():
    answer = compare({"hold": forecast_result(0.0, np.full((B, H, 1), 0.5)),
                      "scale_out": forecast_result(-1.0, None)}, OBJECTIVE)
    assert answer.support == {} and answer.plans_support_frame().empty
    effects = answer.effects_frame()
    assert (effects["flag"] == "unchecked").all() and effects["support_b"].isna().all()
    assert (effects["prob_b_better"] == effects["prob_b_better_model"]).all()
    summary = answer.summary()
    assert summary.count("overlap: not checked") == 1 and "support" not in summary
    assert "  !" not in summary


def test_when_a_forecast_has_no_control_mask_then_every_control_counts_as_set():
    support = np.full((B, H, 1), 0.15)  # 2 min(2 x 0.15, 3 x 0.15) = 0.6
    support[0, :, 0] = 0.00005  # 2 min(2 x 0.00005, 3 x 0.00005) = 0.0002
    answer = compare({"a": forecast_result(0.0, support), "b": forecast_result(0.0, support)}, OBJECTIVE)
    assert answer.support["a"] == pytest.approx([0.0002, 0.6])


def test_when_the_effects_frame_is_written_as_json_then_support_and_flag_are_in_it(answer, tmp_path):
    from tsloop.output import write_table

    path = write_table(answer.effects_frame(), tmp_path / "whatif.json")
    rows = json.loads(path.read_text())
    assert [(r["series_id"], r["flag"]) for r in rows] == [("c0", "supported"), ("c1", "unsupported")]
    assert [(r["support_a"], r["support_b"]) for r in rows] == [pytest.approx((0.4, 0.6)), pytest.approx((0.4, 0.003))]


def test_when_a_forecast_is_tabled_then_its_quantiles_are_over_the_sample_paths_of_each_series():
    result = forecast_result(0.0, None)
    result.samples[:, 1] += 100.0  # a second series far from the first: quantiles must not mix them
    table = result.to_frame()
    for b, sid in enumerate(result.series_ids):
        rows = table[table["series_id"] == sid]
        for level in result.levels:
            expected = np.quantile(result.samples[:, b, :, 0], level, axis=0)
            np.testing.assert_allclose(rows[f"q{level:g}"].to_numpy(), expected)
        assert (rows["q0.05"] < rows["mean"]).all() and (rows["mean"] < rows["q0.95"]).all()
