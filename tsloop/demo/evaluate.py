"""Score forecasts and what-if answers on the plant against seasonal naive and the simulator.

Every query goes through the public API (``Forecaster.forecast`` / ``whatif``) with frames cut
from the logged data, exactly as a user would ask it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsloop import metrics
from tsloop.demo.scenario import Scenario, demo_plans, logged_plan, plan_frame
from tsloop.query.objective import prob_better
from tsloop.query.results import NUM_SAMPLES
from tsloop.sim.plant.oracle import states_at

OBJECTIVE_CHANNEL = "latency_p95"


def frames_at(scenario: Scenario, t0: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History [t0 - L, t0) and future [t0, t0 + H) rows of every cluster."""
    spec = scenario.spec
    L, H = spec.context_length, spec.horizon
    groups = [g for _, g in scenario.frame.groupby(spec.series_id, sort=True)]
    history = pd.concat([g.iloc[t0 - L : t0] for g in groups], ignore_index=True)
    keep = [spec.timestamp, spec.series_id, *spec.known_future, *spec.intervention]
    future = pd.concat([g.iloc[t0 : t0 + H][keep] for g in groups], ignore_index=True)
    return history, future


def origins_in_test_part(scenario: Scenario, count: int) -> list[int]:
    """Forecast origins spread evenly over the test part (last 20 % of each series)."""
    spec, steps = scenario.spec, scenario.sim.config.steps
    first = steps - int(steps * 0.2)
    last = steps - spec.horizon
    return sorted({int(t) for t in np.linspace(first, last, count)})


def evaluate_forecasts(forecaster, scenario: Scenario, origins: list[int], season: int,
                       num_samples: int = NUM_SAMPLES, oracle_paths: int = 256) -> pd.DataFrame:
    """Per target: CRPS and MAE of tsloop, seasonal naive and the oracle (original units).

    The forecast conditions on the logged future controls. The oracle knows the full state but
    takes those controls as a fixed plan; the logging operator chose them in reaction to the
    future it saw, so they carry information about it, and a model conditioning on them can
    score below this oracle on factual data (ratio < 1). The what-if scores below have no such
    leak: there the plans are chosen independently of the future.
    """
    spec, sim, noise = scenario.spec, scenario.sim, scenario.noise
    H = spec.horizon
    names = list(spec.target)
    rows = {name: {"tsloop": [], "seasonal_naive": [], "oracle": [], "tsloop_mae": []} for name in names}
    for i, (t0, state) in enumerate(zip(origins, states_at(sim, noise, origins))):
        history, future = frames_at(scenario, t0)
        result = forecaster.forecast(history, future, num_samples=num_samples, seed=i)
        plan = logged_plan(scenario, t0, H)
        oracle = sim.rollout(state, [plan], noise.exog.temp_forecast[:, t0 : t0 + H], n_paths=oracle_paths, seed=i)[0]
        median = result.quantile(0.5)
        for c, name in enumerate(names):
            truth = scenario.logged.targets[name][:, t0 : t0 + H]  # (S, H)
            naive = scenario.logged.targets[name][:, t0 - season : t0 - season + H]
            rows[name]["tsloop"].append(metrics.crps_samples(result.samples[..., c], truth))
            rows[name]["tsloop_mae"].append(metrics.mae(median[..., c], truth))
            rows[name]["seasonal_naive"].append(metrics.mae(naive, truth))  # CRPS of a point forecast
            rows[name]["oracle"].append(metrics.crps_samples(oracle.targets[name], truth))
    table = pd.DataFrame(
        {
            "channel": names,
            "crps_tsloop": [np.mean(rows[n]["tsloop"]) for n in names],
            "crps_seasonal_naive": [np.mean(rows[n]["seasonal_naive"]) for n in names],
            "crps_oracle": [np.mean(rows[n]["oracle"]) for n in names],
            "mae_tsloop": [np.mean(rows[n]["tsloop_mae"]) for n in names],
        }
    )
    table["tsloop_over_naive"] = table["crps_tsloop"] / table["crps_seasonal_naive"]
    table["tsloop_over_oracle"] = table["crps_tsloop"] / table["crps_oracle"]
    return table


def _mean_objective(paths: np.ndarray) -> np.ndarray:
    return paths.mean(axis=-1)  # mean over the horizon


def evaluate_whatif(forecaster, scenario: Scenario, origins: list[int], num_samples: int = NUM_SAMPLES,
                    oracle_paths: int = 256, material: float = 0.05):
    """Hold vs scale-out at each origin and cluster, scored against the simulator.

    Returns (per-pair table, summary dict). The oracle effect is the mean over the simulator's
    predictive paths (common random numbers across the plans); the realized counterfactual is the
    scenario's own future under each plan. A pair is *material* when the oracle's effect exceeds
    ``material`` of the hold plan's expected objective.
    """
    spec, sim, noise = scenario.spec, scenario.sim, scenario.noise
    H = spec.horizon
    c = list(spec.target).index(OBJECTIVE_CHANNEL)
    pairs, crps, example = [], {"tsloop": [], "oracle": []}, ""
    for i, (t0, state) in enumerate(zip(origins, states_at(sim, noise, origins))):
        history, future = frames_at(scenario, t0)
        plans = demo_plans(scenario, t0, H)
        answer = forecaster.whatif(
            history, {n: plan_frame(scenario, future, p) for n, p in plans.items()},
            objective=f"mean:{OBJECTIVE_CHANNEL}", num_samples=num_samples, seed=i,
        )
        example = f"origin step {t0}:\n{answer.summary()}"  # the last origin's answer, as a user reads it
        oracle = sim.rollout(state, list(plans.values()), noise.exog.temp_forecast[:, t0 : t0 + H],
                             n_paths=oracle_paths, seed=i)
        oracle_values = {n: _mean_objective(o.targets[OBJECTIVE_CHANNEL]) for n, o in zip(plans, oracle)}  # (N, S)
        for name, o in zip(plans, oracle):
            realized = sim.run(noise, plans[name], start=state, steps=H).targets[OBJECTIVE_CHANNEL]  # (S, H)
            crps["tsloop"].append(metrics.crps_samples(answer.forecasts[name].samples[..., c], realized))
            crps["oracle"].append(metrics.crps_samples(o.targets[OBJECTIVE_CHANNEL], realized))
        true_effect = (oracle_values["scale_out"] - oracle_values["hold"]).mean(axis=0)  # (S,)
        base = oracle_values["hold"].mean(axis=0)
        for b, sid in enumerate(answer.forecasts["hold"].series_ids):
            effect = answer.effects[sid][0]
            pairs.append({
                "origin": t0, "series_id": sid,
                "effect_tsloop": effect.mean, "effect_lo": effect.lower, "effect_hi": effect.upper,
                "effect_oracle": float(true_effect[b]),
                "p_better_tsloop": effect.prob_b_better,
                "p_better_model": effect.prob_b_better_model,  # before the overlap guard tempers it
                "support_hold": effect.support_a, "support_scale_out": effect.support_b, "flag": effect.flag,
                # the rule of the model's prob_b_better: identical plans (at 16 replicas) give 0.5, not 0
                "p_better_oracle": prob_better(oracle_values["scale_out"][:, b] - oracle_values["hold"][:, b], "min"),
                "material": bool(abs(true_effect[b]) > material * abs(base[b])),
            })
    table = pd.DataFrame(pairs)
    agree = np.sign(table["effect_tsloop"]) == np.sign(table["effect_oracle"])
    covered = (table["effect_lo"] <= table["effect_oracle"]) & (table["effect_oracle"] <= table["effect_hi"])
    summary = {
        "pairs": len(table),
        "material_pairs": int(table["material"].sum()),
        "ranking_accuracy": float(agree.mean()),
        "ranking_accuracy_material": float(agree[table["material"]].mean()) if table["material"].any() else float("nan"),
        "effect_mae": float((table["effect_tsloop"] - table["effect_oracle"]).abs().mean()),
        "effect_interval_coverage": float(covered.mean()),
        "p_better_tsloop_mean": float(table["p_better_tsloop"].mean()),
        "p_better_oracle_mean": float(table["p_better_oracle"].mean()),
        "p_better_brier": float(((table["p_better_tsloop"] - table["p_better_oracle"]) ** 2).mean()),
        "cf_crps_tsloop": float(np.mean(crps["tsloop"])),
        "cf_crps_oracle": float(np.mean(crps["oracle"])),
        "flagged_pairs": int(table["flag"].isin(["weak", "unsupported"]).sum()),
    }
    summary["cf_crps_ratio"] = summary["cf_crps_tsloop"] / summary["cf_crps_oracle"]
    table.attrs["example"] = example  # the last answer's own summary, with its overlap lines
    return table, summary
