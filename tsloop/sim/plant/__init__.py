"""The telemetry plant: service clusters with demand, weather, queueing, heat and an operator.

    sim = PlantSimulator(PlantConfig(series=8, steps=20_000), seed=0)
    noise, logged = sim.simulate()
    cf = sim.run(noise, Plan(replicas=12), start=sim.state_at(noise, 5_000), steps=48)
"""

from tsloop.sim.plant.config import (
    CONTROL_BOUNDS,
    CONTROLS,
    EVENTS,
    KNOWN_FUTURE,
    PAST_EXOG,
    STATICS,
    TARGETS,
    ClusterParams,
    PlantConfig,
)
from tsloop.sim.plant.drivers import PlantNoise
from tsloop.sim.plant.frame import load_plant_frame, plant_frame, plant_task
from tsloop.sim.plant.oracle import climatology_paths, oracle_crps, states_at
from tsloop.sim.plant.physics import PlantState
from tsloop.sim.plant.policy import Plan
from tsloop.sim.plant.simulator import PlantSamples, PlantSimulator, PlantTrajectory

__all__ = [
    "CONTROL_BOUNDS",
    "CONTROLS",
    "EVENTS",
    "KNOWN_FUTURE",
    "PAST_EXOG",
    "STATICS",
    "TARGETS",
    "ClusterParams",
    "Plan",
    "PlantConfig",
    "PlantNoise",
    "PlantSamples",
    "PlantSimulator",
    "PlantState",
    "PlantTrajectory",
    "climatology_paths",
    "load_plant_frame",
    "oracle_crps",
    "plant_frame",
    "plant_task",
    "states_at",
]
