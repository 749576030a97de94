"""The forecasting report's seed groups and best peer (pipelines/bench/report.py)."""

from __future__ import annotations

from pipelines.bench.report import against_best, seed_groups, seed_table


def row(mse: float, seed: int | None = None, **info) -> dict:
    return {"all": {"mse": mse, "crps": mse}, "info": {**({"seed": seed} if seed is not None else {}), **info}}


RES = {"rows": {
    "NHITS": row(0.20, hparams={"random_seed": 0, "steps_run": 900}),  # the first, single-seed run
    "NHITS@s1": row(0.30, seed=1, hparams={"steps_run": 700}), "NHITS@s2": row(0.40, seed=2),
    "TSMixerx": row(0.25, seed=0),  # a single run: judged as it is
    "tsloop": row(0.10, seed=0),  # an earlier default: never joins the seed rows
    "tsloop@s0": row(0.22, seed=0), "tsloop@s1": row(0.24, seed=1),
}}


def test_a_peer_s_seed_0_plain_row_joins_its_seed_rows_but_tsloop_s_earlier_default_does_not():
    groups = seed_groups(RES["rows"])
    assert groups["NHITS"] == ["NHITS", "NHITS@s1", "NHITS@s2"]
    assert groups["tsloop"] == ["tsloop@s0", "tsloop@s1"]
    assert "TSMixerx" not in groups


def test_the_best_peer_is_judged_by_its_seed_mean_where_it_has_one():
    # NHITS's seed 0 alone (0.20) would beat tsloop's mean (0.23); its mean over 3 seeds (0.30) does not
    assert against_best(RES, ["tsloop@s0", "tsloop@s1"], "mse", ("NHITS", "TSMixerx")) == "0.920 (TSMixerx)"
    table = "\n".join(seed_table(RES))
    assert "| NHITS | 3 | 0.300 ± 0.100 |" in table and "700/900" in table
    assert "| tsloop | 2 | 0.230 ± 0.014 |" in table and "0.920 (TSMixerx)" in table


def test_a_peer_scored_on_the_subsample_only_is_compared_on_the_subsample():
    # fracast ran on every 4th window only: against it, tsloop's subsample score counts, not its all-window one
    res = {"rows": {**RES["rows"], "fracast": {"sub": {"mse": 0.5, "crps": 0.20}, "info": {}}}}
    for n in ("tsloop@s0", "tsloop@s1"):
        res["rows"][n] = {**res["rows"][n], "sub": {"mse": 0.3, "crps": 0.21}}
    assert against_best(res, ["tsloop@s0", "tsloop@s1"], "crps", ("fracast",)) == "1.050 (fracast, subsample)"
