"""The data card's example figure: one cluster's channels and events, and one window under two plans.

    python -m tsloop.sim.plant.plot datasets/plant/plant_example.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tsloop.output import atomic_path
from tsloop.sim.plant.config import PlantConfig
from tsloop.sim.plant.policy import Plan
from tsloop.sim.plant.simulator import PlantSimulator

CLUSTER, START, STEPS, WHATIF_AT = 0, 4_032, 576, 4_320  # two days from day 14; the what-if starts at day 15


def plot_example(path: str | Path, seed: int = 0) -> Path:
    """Draw the figure to `path` (PNG) and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = PlantConfig(series=2, steps=START + STEPS)
    sim = PlantSimulator(cfg, seed=seed)
    noise, logged = sim.simulate()
    window = slice(START, START + STEPS)
    hours = (np.arange(START, START + STEPS) - START) * cfg.step_minutes / 60.0
    state = sim.state_at(noise, WHATIF_AT)
    horizon = START + STEPS - WHATIF_AT
    fixed = Plan(replicas=14, cooling_setpoint=18.0, rate_limit=5000.0)
    cf = sim.run(noise, fixed, start=state, steps=horizon)
    cf_hours = hours[WHATIF_AT - START :]

    c = CLUSTER
    fig, axes = plt.subplots(5, 1, figsize=(8.5, 8.0), sharex=True, dpi=80)
    ax = axes[0]
    ax.plot(hours, logged.exog.demand[c, window], color="tab:gray", lw=0.8)
    ax.set_ylabel("requests/s")
    ax.set_title("cluster_00: two days of logged telemetry (operator policy); from hour 24 also a fixed plan", fontsize=9)
    ax = axes[1]
    ax.plot(hours, logged.targets["cpu_util"][c, window], lw=0.8, label="cpu_util (logged)")
    ax.plot(cf_hours, cf.targets["cpu_util"][c], lw=0.8, color="tab:orange", label="cpu_util (fixed plan)")
    ax.set_ylabel("utilisation")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    ax = axes[2]
    ax.semilogy(hours, logged.targets["latency_p95"][c, window], lw=0.8, label="latency_p95 (logged)")
    ax.semilogy(cf_hours, cf.targets["latency_p95"][c], lw=0.8, color="tab:orange", label="latency_p95 (fixed plan)")
    ax.axhline(cfg.slo_ms, color="k", ls=":", lw=0.8, label=f"SLO {cfg.slo_ms:g} ms")
    _marks(ax, hours, logged.events["slo_breach"][c, window], "slo_breach (logged)", "tab:red")
    _marks(ax, cf_hours, cf.events["slo_breach"][c], "slo_breach (fixed plan)", "tab:orange")
    ax.set_ylabel("ms")
    ax.legend(loc="upper left", fontsize=7, ncol=3)
    ax = axes[3]
    ax.plot(hours, logged.targets["inlet_temp"][c, window], lw=0.8, label="inlet_temp (logged)")
    ax.plot(hours, logged.controls["cooling_setpoint"][c, window], lw=0.8, ls="--", color="tab:blue", label="setpoint (logged)")
    ax.plot(cf_hours, cf.targets["inlet_temp"][c], lw=0.8, color="tab:orange", label="inlet_temp (fixed plan)")
    ax.axhline(cfg.trip_temp, color="k", ls=":", lw=0.8, label=f"trip {cfg.trip_temp:g} °C")
    _marks(ax, hours, logged.events["thermal_trip"][c, window], "thermal_trip (logged)", "tab:red")
    _marks(ax, cf_hours, cf.events["thermal_trip"][c], "thermal_trip (fixed plan)", "tab:orange")
    ax.set_ylabel("°C")
    ax.legend(loc="upper left", fontsize=7, ncol=3)
    ax = axes[4]
    ax.step(hours, logged.controls["replicas"][c, window], where="post", lw=0.9, label="replicas (logged)")
    ax.step(cf_hours, cf.controls["replicas"][c], where="post", lw=0.9, color="tab:orange", label="replicas (fixed plan: 14, 18 °C)")
    limited = logged.controls["rate_limit"][c, window] < 5000
    ax.fill_between(hours, 0, 17, where=limited, color="tab:red", alpha=0.15, step="post", label="rate limit on (logged)")
    ax.set_ylim(0, 17)
    ax.set_ylabel("replicas")
    ax.set_xlabel("hours")
    ax.legend(loc="upper left", fontsize=7, ncol=3)
    for ax in axes:
        ax.axvline(cf_hours[0], color="tab:orange", lw=0.6, alpha=0.6)
        ax.tick_params(labelsize=7)
        ax.yaxis.label.set_size(8)
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path) as tmp:  # a failed or killed write leaves no partial PNG
            fig.savefig(tmp, dpi=80, format="png")
    finally:
        plt.close(fig)
    return path


def _marks(ax, hours: np.ndarray, events: np.ndarray, label: str, color: str) -> None:
    at = hours[events > 0]
    if len(at):
        ax.scatter(at, np.full(len(at), ax.get_ylim()[1]), marker="v", color=color, s=25, label=label, zorder=3, clip_on=False)


if __name__ == "__main__":
    print(plot_example(sys.argv[1] if len(sys.argv) > 1 else "plant_example.png"))
