"""The simulated part of the corpus: plant fleets and tumour cohorts, on seeds no benchmark uses.

Plant fleets cycle through a grid of the operator's confounding strength and the step size, so
every default-size corpus covers each combination; tumour cohorts cycle through the papers' γ.
Their seeds are drawn from the corpus seed in ``[SIM_SEED_FLOOR, 2**31)``: every seed a benchmark,
the demo, a task file or a test gives these simulators is far below the floor (0–6 for the plant;
10, 11 and the papers' 10 … 101010 for the tumour), so no simulated benchmark series is made here.

The plant operator's exploration rate is the module constant ``tsloop.sim.plant.policy.EXPLORE_P``
(0.5 % per step and direction), not a ``PlantConfig`` field, so it is the same in every fleet;
the controlled systems (``controlled_systems.py``) vary exploration instead.

Example::

    frame, fleets = plant_fleets(fleets=2, clusters=2, days=1, seeds=[1 << 20, (1 << 20) + 1])
    frame, cohorts = tumour_cohorts(cohorts=1, patients=10, seeds=[1 << 20])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsloop.sim.plant.config import CONTROLS, EVENTS, KNOWN_FUTURE, PAST_EXOG, STATICS, TARGETS
from tsloop.sim.plant.frame import load_plant_frame
from tsloop.sim.tumour.frame import CONTROLS as TUMOUR_CONTROLS
from tsloop.sim.tumour.frame import EVENTS as TUMOUR_EVENTS
from tsloop.sim.tumour.frame import STATIC as TUMOUR_STATIC
from tsloop.sim.tumour.frame import TARGET as TUMOUR_TARGET
from tsloop.sim.tumour.frame import load_tumour_frame

SIM_SEED_FLOOR = 1 << 20  # above every seed the benchmarks, demo, task files and tests use
PLANT_CONFOUNDING = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)  # operator reaction strengths (0 = blind)
PLANT_STEP_MINUTES = (5, 15)
TUMOUR_GAMMAS = (0.0, 1.0, 2.0, 3.0, 4.0)  # the papers' confounding levels

PLANT_ROLES = {
    **{c: "target" for c in TARGETS},
    **{c: "past_exog" for c in PAST_EXOG},
    **{c: "known_future" for c in KNOWN_FUTURE},
    **{c: "intervention" for c in CONTROLS},
    **{c: "event" for c in EVENTS},
    **{c: "static" for c in STATICS},
}
TUMOUR_ROLES = {
    TUMOUR_TARGET: "target",
    **{c: "intervention" for c in TUMOUR_CONTROLS},
    **{c: "event" for c in TUMOUR_EVENTS},
    TUMOUR_STATIC: "static",
}


def sim_seeds(rng: np.random.Generator, n: int) -> list[int]:
    """``n`` simulator seeds in [SIM_SEED_FLOOR, 2**31), away from every benchmark seed."""
    return [int(s) for s in rng.integers(SIM_SEED_FLOOR, 2**31, size=n)]


def plant_fleets(fleets: int, clusters: int, days: int, seeds: list[int]) -> tuple[pd.DataFrame, list[dict]]:
    """Logged telemetry of ``fleets`` simulated fleets (long frame) and one record per fleet."""
    frames, records = [], []
    for k in range(fleets):
        confounding = PLANT_CONFOUNDING[k % len(PLANT_CONFOUNDING)]
        minutes = PLANT_STEP_MINUTES[(k // len(PLANT_CONFOUNDING)) % len(PLANT_STEP_MINUTES)]
        steps = days * 1440 // minutes
        frame = load_plant_frame(series=clusters, steps=steps, seed=seeds[k], confounding=confounding,
                                 step_minutes=minutes)
        prefix = f"plant/f{k:03d}/"
        frames.append(_long(frame, prefix, PLANT_ROLES, step_index=False))
        records.append({"fleet": k, "seed": seeds[k], "confounding": confounding, "step_minutes": minutes,
                        "clusters": clusters, "steps": steps, "series_prefix": prefix})
    return pd.concat(frames, ignore_index=True), records


def tumour_cohorts(cohorts: int, patients: int, seeds: list[int]) -> tuple[pd.DataFrame, list[dict]]:
    """Factual trajectories of ``cohorts`` tumour cohorts (one row per patient-day alive) and their records."""
    frames, records = [], []
    for k in range(cohorts):
        gamma = TUMOUR_GAMMAS[k % len(TUMOUR_GAMMAS)]
        # pad=False: a patient's rows stop at death or recovery instead of trailing missing volumes
        frame = load_tumour_frame(gamma=gamma, seed=seeds[k], cohort="train", patients=patients, pad=False)
        prefix = f"tumour/c{k:03d}/"
        frames.append(_long(frame, prefix, TUMOUR_ROLES, step_index=True))
        records.append({"cohort": k, "seed": seeds[k], "gamma": gamma, "patients": patients, "series_prefix": prefix})
    return pd.concat(frames, ignore_index=True), records


def _long(frame: pd.DataFrame, prefix: str, roles: dict[str, str], step_index: bool) -> pd.DataFrame:
    """A simulator frame in the corpus layout: series_id, step, timestamp, then the role columns."""
    series = prefix + frame["series"].astype(str)
    step = frame.groupby("series", sort=False).cumcount().astype(np.int64)
    out = pd.DataFrame({"series_id": series, "step": step})
    out["timestamp"] = np.datetime64("NaT", "ns") if step_index else frame["timestamp"]
    for column in roles:
        out[column] = frame[column].astype(np.float64)
    return out
