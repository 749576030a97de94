"""A tumour cohort as a long table and its task file (tsloop/sim/tumour/frame.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsloop.data.spec import TaskSpec
from tsloop.data.task import load_task
from tsloop.sim.tumour import make_cohort
from tsloop.sim.tumour.frame import CONTROLS, EVENTS, TARGET, load_tumour_frame, tumour_frame, tumour_task

GAMMA, SEED, N, DAYS = 4, 10, 60, 40


@pytest.fixture(scope="module")
def cohort():
    return make_cohort("train", GAMMA, SEED, n=N, days=DAYS)


def test_when_padded_then_every_patient_keeps_every_day_and_nothing_happens_after_its_last(cohort):
    frame = tumour_frame(cohort)
    assert len(frame) == N * DAYS
    length = cohort.factual.length
    after = frame["timestamp"].to_numpy() >= np.repeat(length, DAYS)
    assert frame.loc[after, TARGET].isna().all() and frame.loc[~after, TARGET].notna().all()
    assert (frame.loc[after, [*CONTROLS, *EVENTS]] == 0).all().all()
    assert (length < DAYS).any()  # some patients do end early, so the padding was exercised


def test_when_not_padded_then_a_patients_rows_stop_at_its_last_day(cohort):
    frame = tumour_frame(cohort, pad=False)
    assert frame.groupby("series").size().to_numpy().tolist() == cohort.factual.length.tolist()
    assert frame[TARGET].notna().all()


def test_when_a_patient_dies_or_recovers_then_the_event_is_on_its_last_row_only(cohort):
    frame = tumour_frame(cohort, pad=False)
    last = frame.groupby("series")["timestamp"].transform("max") == frame["timestamp"]
    assert (frame.loc[~last, list(EVENTS)] == 0).all().all()
    ended = frame.loc[last, list(EVENTS)]
    assert ended["death"].sum() == cohort.factual.death.sum()
    assert ended["recovery"].sum() == cohort.factual.recovery.sum()
    assert (ended.sum(axis=1) <= 1).all()  # never both


def test_when_patients_are_named_then_names_carry_the_prefix_and_sort_in_patient_order(cohort):
    names = tumour_frame(cohort, prefix="val")["series"].unique().tolist()
    assert names[:2] == ["val_00", "val_01"] and names == sorted(names) and len(names) == N


def test_when_a_cohort_is_loaded_by_name_then_it_is_the_cohort_made_from_the_same_seed(cohort):
    pd.testing.assert_frame_equal(load_tumour_frame(gamma=GAMMA, seed=SEED, patients=N, days=DAYS),
                                  tumour_frame(cohort, prefix="train"))


def test_when_the_task_is_loaded_with_its_frame_then_its_roles_and_bounds_hold():
    frame = load_tumour_frame(gamma=GAMMA, seed=SEED, patients=N, days=DAYS)
    spec = TaskSpec.from_dict(tumour_task(GAMMA, data="unused.parquet"))
    task = load_task(spec, frame=frame)
    dims = task.spec.dims
    assert (dims.target, dims.intervention, dims.event, dims.static) == (1, 2, 2, 1)
    assert spec.name == "tumour-gamma4" and spec.intervention_bounds == {name: [0, 1] for name in CONTROLS}
    assert len(task.series) == N
