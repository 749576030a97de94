"""The telemetry plant: service clusters with demand, weather, queueing, heat and an operator.

    >>> sim = PlantSimulator(PlantConfig(series=2, steps=1_000), seed=0)   # tasks: 8 x 20,000
    >>> noise, logged = sim.simulate()
    >>> cf = sim.run(noise, Plan(replicas=12), start=sim.state_at(noise, 500), steps=48)
    >>> cf.controls["replicas"][:, 0], logged.controls["replicas"][:, 500]
    (array([12., 12.]), array([14., 14.]))

More in :mod:`tsloop.sim.plant.simulator`; the frame and task files: :mod:`tsloop.sim.plant.frame`.
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
