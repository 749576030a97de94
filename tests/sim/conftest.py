"""Shared fixtures for the simulator tests: one small logged plant scenario and a small tumour benchmark."""

from __future__ import annotations

import pytest

from tsloop.sim.plant import PlantConfig, PlantSimulator
from tsloop.sim.tumour import make_benchmark


@pytest.fixture(scope="session")
def plant():
    """(simulator, noise, logged trajectory): 4 clusters x 3000 steps (~10 days), seed 1."""
    sim = PlantSimulator(PlantConfig(series=4, steps=3000), seed=1)
    noise, logged = sim.simulate()
    return sim, noise, logged


@pytest.fixture(scope="session")
def tumour_bench():
    """A gamma = 4 benchmark with small cohorts (the protocol's sizes are 10000/1000/1000/1000)."""
    return make_benchmark(gamma=4, seed=10, n_train=1000, n_val=50, n_test=150)
