"""A tumour cohort's factual trajectories as a long-format table, and its task specification."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsloop.sim.tumour.cohorts import make_cohort
from tsloop.sim.tumour.protocol import DAYS, Cohort

TARGET = "cancer_volume"
CONTROLS = ("chemo_application", "radio_application")
EVENTS = ("death", "recovery")
STATIC = "patient_type"


def tumour_frame(cohort: Cohort, prefix: str = "p", pad: bool = True) -> pd.DataFrame:
    """One row per patient-day: day, patient, volume, treatments, events, patient type.

    With `pad`, every patient keeps all `days` rows: after its last day (death or recovery) the
    volume is missing (NaN) and treatments and events are 0, like the benchmark's active-entries
    mask; otherwise a patient's rows stop at its last day.
    """
    f = cohort.factual
    n, days = f.volume.shape
    keep = np.ones((n, days), dtype=bool) if pad else np.arange(days)[None, :] < f.length[:, None]
    patient, day = np.nonzero(keep)
    last = day == f.length[patient] - 1
    width = len(str(max(n - 1, 1)))
    return pd.DataFrame(
        {
            "timestamp": day.astype(np.int64),
            "series": np.char.add(f"{prefix}_", np.char.zfill(patient.astype(str), width)),
            TARGET: f.volume[patient, day],
            "chemo_application": f.chemo[patient, day].astype(np.int64),
            "radio_application": f.radio[patient, day].astype(np.int64),
            "death": (last & f.death[patient]).astype(np.int64),
            "recovery": (last & f.recovery[patient]).astype(np.int64),
            STATIC: cohort.patients.patient_type[patient].astype(np.int64),
        }
    )


def load_tumour_frame(
    *,
    gamma: float = 2.0,
    seed: int = 10,
    cohort: str = "train",
    patients: int | None = None,
    days: int = DAYS,
    pad: bool = True,
    mode: str = "default",
) -> pd.DataFrame:
    """The factual trajectories of one benchmark cohort, as a long-format frame.

    This is the `source: {loader: tumour, ...}` entry point. The cohort's randomness depends
    only on (seed, cohort), so it matches `make_benchmark(gamma, seed)` for the same sizes.
    `pad` keeps `days` rows per patient (missing volume after death or recovery; see
    `tumour_frame`). `mode="ct"` gives the Causal Transformer code's policies (tsloop/sim/tumour/ct.py).
    Raises SpecError for an unknown cohort, mode or invalid sizes.
    """
    made = make_cohort(cohort, gamma, seed, patients, days, mode)
    return tumour_frame(made, prefix=cohort, pad=pad)


def tumour_task(gamma: float, data: str | None = None, source: dict | None = None) -> dict:
    """A task specification (docs/CONTRACTS.md schema) for a tumour cohort's factual data."""
    task: dict = {"name": f"tumour-gamma{gamma:g}"}
    task.update({"data": data} if source is None else {"source": source})
    task.update(
        format="long",
        timestamp="timestamp",
        series_id="series",
        freq="step",
        target=[TARGET],
        past_exog=[],
        known_future=[],
        intervention=list(CONTROLS),
        event=list(EVENTS),
        static=[STATIC],
        context_length=15,
        horizon=6,
        split={"fractions": [0.7, 0.1, 0.2]},
        intervention_bounds={name: [0, 1] for name in CONTROLS},
    )
    return task

