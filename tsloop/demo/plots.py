"""The demo's what-if picture: both plans as the model sees them and as the simulator has them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tsloop.demo.evaluate import OBJECTIVE_CHANNEL, frames_at, origins_in_test_part
from tsloop.demo.scenario import Scenario, demo_plans, plan_frame
from tsloop.plots import fan, plt, save_figure
from tsloop.sim.plant.oracle import states_at

COLORS = {"hold": "tab:blue", "scale_out": "tab:orange"}


def origin_where_plans_differ(scenario: Scenario, cluster: int) -> int:
    """A test origin where scaling out changes the cluster's replicas (at the cap both plans are one)."""
    H = scenario.spec.horizon
    origins = origins_in_test_part(scenario, 12)
    for t0 in origins[len(origins) // 3 :] + origins[: len(origins) // 3]:
        plans = demo_plans(scenario, t0, H)
        replicas = {n: p.resolve(scenario.sim.config.series, H)["replicas"][cluster] for n, p in plans.items()}
        if not np.allclose(replicas["hold"], replicas["scale_out"]):
            return t0
    return origins[len(origins) // 3]


def whatif_plot(forecaster, scenario: Scenario, path: Path, cluster: int = 0) -> Path:
    """Latency under each plan at one test origin: tsloop's fan (left) vs the oracle's (right),
    with the realized counterfactual of each plan as a dashed line."""
    spec, sim, noise = scenario.spec, scenario.sim, scenario.noise
    H = spec.horizon
    t0 = origin_where_plans_differ(scenario, cluster)
    state = states_at(sim, noise, [t0])[0]
    history, future = frames_at(scenario, t0)
    plans = demo_plans(scenario, t0, H)
    answer = forecaster.whatif(history, {n: plan_frame(scenario, future, p) for n, p in plans.items()},
                               objective=f"mean:{OBJECTIVE_CHANNEL}")
    oracle = sim.rollout(state, list(plans.values()), noise.exog.temp_forecast[:, t0 : t0 + H], n_paths=256)
    steps = np.arange(H)
    levels = (0.05, 0.25, 0.5, 0.75, 0.95)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
    for (name, plan), o in zip(plans.items(), oracle):
        color = COLORS.get(name, None)
        model_q = answer.forecasts[name].quantiles_of(OBJECTIVE_CHANNEL, series=cluster)
        fan(axes[0], steps, model_q, color, name, bands=True)
        paths = o.targets[OBJECTIVE_CHANNEL][:, cluster]  # (N, H)
        fan(axes[1], steps, {q: np.quantile(paths, q, axis=0) for q in levels}, color, name)
        realized = sim.run(noise, plan, start=state, steps=H).targets[OBJECTIVE_CHANNEL][cluster]
        for ax in axes:
            ax.plot(steps, realized, color=color, ls="--", lw=1)
    fig.suptitle(f"What-if at step {t0} of cluster {cluster}: hold the replicas vs scale out by 4", fontsize=10)
    axes[0].set_title("tsloop what-if (90% / 50% bands)")
    axes[1].set_title("simulator oracle; dashed = realized counterfactual")
    axes[0].set_ylabel(f"{OBJECTIVE_CHANNEL} (ms)")
    for ax in axes:
        ax.set_xlabel("steps ahead")
        ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)
