"""The telemetry plant: a fleet of service clusters with exact counterfactuals.

Two phases keep common random numbers: `draw_noise` draws every exogenous path and
noise term up front; `run(noise, plan)` is then deterministic, so two plans meet
the same demand, weather and noise and differ only by the plan.

Example (four clusters for 1,000 five-minute steps; the shipped tasks use 8 x 20,000)::

    >>> sim = PlantSimulator(PlantConfig(series=4, steps=1_000, confounding=1.0), seed=0)
    >>> noise = sim.draw_noise()
    >>> logged = sim.run(noise)                                 # operator policy
    >>> sim.run(noise, logged.plan).equals(logged)              # replay is exact
    True
    >>> state = sim.state_at(noise, t0=500)                     # end of a context
    >>> fixed = Plan(replicas=12)
    >>> cf = sim.run(noise, fixed, start=state, steps=48)       # the counterfactual truth
    >>> cf.targets["latency_p95"].shape                         # (clusters, steps)
    (4, 48)
    >>> paths = sim.rollout(state, [None, fixed], noise.exog.temp_forecast[:, 500:548])
    >>> paths[1].targets["latency_p95"].shape                   # (paths, clusters, steps) per plan
    (256, 4, 48)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tsloop.errors import PlanError
from tsloop.sim.plant.config import CONTROLS, EVENTS, TARGETS, ClusterParams, PlantConfig
from tsloop.sim.plant.drivers import ExogPaths, PlantNoise, StepNoise, draw_exog, expected_demand
from tsloop.sim.plant.physics import PlantState, initial_state, step
from tsloop.sim.plant.policy import NO_LIMIT, Plan, capacity_schedule, operator_step


@dataclass(frozen=True)
class PlantTrajectory:
    """Channels over steps t0..t0+H-1, each array (B, H); B = clusters (or paths x clusters)."""

    t0: int
    targets: dict[str, np.ndarray]
    events: dict[str, np.ndarray]
    controls: dict[str, np.ndarray]
    exog: ExogPaths
    final_state: PlantState

    @property
    def plan(self) -> Plan:
        """The controls that were applied, as a plan that replays them."""
        return Plan(**self.controls)

    def equals(self, other: "PlantTrajectory") -> bool:
        """Bit-for-bit equality of every recorded channel."""
        mine, theirs = self.channels(), other.channels()
        return mine.keys() == theirs.keys() and all(np.array_equal(mine[k], theirs[k]) for k in mine)

    def channels(self) -> dict[str, np.ndarray]:
        return {**self.targets, **self.events, **self.controls}


@dataclass(frozen=True)
class PlantSamples:
    """Monte Carlo paths of one plan from one state: each array (N paths, S clusters, H steps)."""

    targets: dict[str, np.ndarray]
    events: dict[str, np.ndarray]
    controls: dict[str, np.ndarray]


class PlantSimulator:
    """A fleet of `config.series` clusters whose static parameters are drawn from `seed`."""

    def __init__(self, config: PlantConfig | None = None, seed: int = 0, params: ClusterParams | None = None):
        self.config = config or PlantConfig()
        self.seed = seed
        param_seed, self._noise_seed = np.random.SeedSequence(seed).spawn(2)
        self.params = params or ClusterParams.draw(self.config.series, np.random.default_rng(param_seed))

    def draw_noise(self, seed: int | np.random.SeedSequence | None = None) -> PlantNoise:
        """Phase one: every exogenous path and noise term of a scenario (default: the simulator's seed)."""
        rng = np.random.default_rng(self._noise_seed if seed is None else seed)
        return PlantNoise.draw(self.config, self.params, rng)

    def simulate(self) -> tuple[PlantNoise, PlantTrajectory]:
        """The logged scenario: its noise and the trajectory under the operator policy."""
        noise = self.draw_noise()
        return noise, self.run(noise)

    def run(
        self, noise: PlantNoise, plan: Plan | None = None, start: PlantState | None = None, steps: int | None = None
    ) -> PlantTrajectory:
        """Phase two (deterministic): `steps` steps from `start` (default: step 0) under `plan`.

        Plan arrays are indexed from the start step; controls the plan leaves out are the operator's.
        """
        t0 = 0 if start is None else start.t
        steps = noise.steps - t0 if steps is None else steps
        if steps < 1 or t0 + steps > noise.steps:
            raise PlanError(f"cannot run {steps} steps from step {t0}: the scenario has {noise.steps} steps.")
        if start is None:
            sched0 = capacity_schedule(self.config, expected_demand(self.config, self.params, np.array([0])), self.params)[:, 0]
            start = initial_state(self.config, sched0, noise.start)
        planned = (plan or Plan()).resolve(self.config.series, steps)
        return self._advance(self.params, start, noise.exog.window(t0, t0 + steps), noise.step.window(t0, t0 + steps), planned)

    def state_at(self, noise: PlantNoise, t0: int, plan: Plan | None = None) -> PlantState:
        """The state before step t0 (the end of a context of t0 steps) under `plan` (default: logged)."""
        if t0 < 1:
            raise PlanError(f"state_at needs t0 >= 1 (got {t0}); use run(noise) to start from step 0.")
        return self.run(noise, plan.window(0, t0) if plan else None, steps=t0).final_state

    def rollout(
        self,
        state: PlantState,
        plans: list[Plan | None],
        forecast: np.ndarray,
        n_paths: int = 256,
        seed: int = 0,
    ) -> list[PlantSamples]:
        """Oracle predictive paths: from `state`, re-draw the future demand, weather error and
        noise (`n_paths` times) given the published temperature forecast (S, H), for each plan.

        All plans share the same draws, so their differences are the plans' effects.
        """
        cfg, S = self.config, self.config.series
        if np.ndim(forecast) != 2 or forecast.shape[0] != S or forecast.shape[1] < 1:
            raise PlanError(f"rollout needs the published forecast as ({S}, H) for {S} clusters; got {np.shape(forecast)}.")
        if n_paths < 1:
            raise PlanError(f"rollout needs n_paths >= 1, got {n_paths}.")
        horizon = forecast.shape[1]
        rng = np.random.default_rng(seed)
        index = np.tile(np.arange(S), n_paths)  # row b = path b // S, cluster b % S
        params = self.params.take(index)
        start = state.take(index)
        t = np.arange(state.t, state.t + horizon)
        exog = draw_exog(cfg, params, t, start.exog, forecast[index], rng)
        noise = StepNoise.draw(len(index), horizon, rng)
        out = []
        for plan in plans:
            planned = {k: None if v is None else v[index] for k, v in (plan or Plan()).resolve(S, horizon).items()}
            traj = self._advance(params, start, exog, noise, planned)
            shape = lambda a: a.reshape(n_paths, S, horizon)  # noqa: E731  (N*S, H) -> (N, S, H)
            out.append(
                PlantSamples(
                    {k: shape(v) for k, v in traj.targets.items()},
                    {k: shape(v) for k, v in traj.events.items()},
                    {k: shape(v) for k, v in traj.controls.items()},
                )
            )
        return out

    def _advance(
        self,
        p: ClusterParams,
        st: PlantState,
        exog: ExogPaths,
        noise: StepNoise,
        planned: dict[str, np.ndarray | None],
    ) -> PlantTrajectory:
        cfg = self.config
        batch, horizon = exog.demand.shape
        t0 = st.t
        scheduled = capacity_schedule(cfg, expected_demand(cfg, p, np.arange(t0, t0 + horizon)), p)
        rec = {name: np.empty((batch, horizon)) for name in (*TARGETS, *EVENTS, *CONTROLS)}
        for k in range(horizon):
            chosen = operator_step(cfg, p, st, scheduled[:, k], noise.uniform[:, k])
            ctrl = {name: chosen[name] if planned[name] is None else planned[name][:, k] for name in CONTROLS}
            st, out = step(
                cfg, p, st, exog.demand[:, k], exog.outdoor_temp[:, k], exog.cooling_fault[:, k],
                ctrl["replicas"], ctrl["cooling_setpoint"], ctrl["rate_limit"], noise.normal[:, k],
            )  # fmt: skip
            st = replace(
                st,
                drift=ctrl["replicas"] - scheduled[:, k],
                setpoint=ctrl["cooling_setpoint"],
                limit_on=chosen["limit_on"] if planned["rate_limit"] is None else (ctrl["rate_limit"] < NO_LIMIT) * 1.0,
                exog=exog.state(k),
            )
            for name, value in {**out, **ctrl}.items():
                rec[name][:, k] = value
        return PlantTrajectory(
            t0=t0,
            targets={k: rec[k] for k in TARGETS},
            events={k: rec[k] for k in EVENTS},
            controls={k: rec[k] for k in CONTROLS},
            exog=exog,
            final_state=st,
        )
