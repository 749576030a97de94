"""The tumour-growth PK-PD counterfactual benchmark (Geng et al. 2017; RMSN, CRN, Causal Transformer).

    >>> bench = make_benchmark(gamma=4, seed=10, n_train=200, n_val=20, n_test=20)  # default: the papers' sizes
    >>> scores = reference_predictors(bench)   # RMSE % of the death volume, one-step and tau = 2..6
    >>> {name: round(s["one_step"], 3) for name, s in scores.items()}
    {'persistence': 0.696, 'growth_ls': 0.165, 'true_model': 0.015}
"""

from tsloop.sim.tumour.cohorts import make_benchmark, make_cohort
from tsloop.sim.tumour.frame import load_tumour_frame, tumour_frame, tumour_task
from tsloop.sim.tumour.model import DEATH_VOLUME, Patients
from tsloop.sim.tumour.protocol import (
    COHORTS,
    PAPER_SEEDS,
    Cohort,
    MultiStepSet,
    OneStepSet,
    TumourBenchmark,
    TumourNoise,
    counterfactual_rollout,
    multi_step_counterfactuals,
    one_step_counterfactuals,
    simulate_factual,
)
from tsloop.sim.tumour.reference import (
    GrowthParams,
    mean_sd,
    reference_predictors,
    rmse_percent,
    score,
)

__all__ = [
    "COHORTS",
    "DEATH_VOLUME",
    "PAPER_SEEDS",
    "Cohort",
    "GrowthParams",
    "MultiStepSet",
    "OneStepSet",
    "Patients",
    "TumourBenchmark",
    "TumourNoise",
    "counterfactual_rollout",
    "load_tumour_frame",
    "make_benchmark",
    "make_cohort",
    "mean_sd",
    "multi_step_counterfactuals",
    "one_step_counterfactuals",
    "reference_predictors",
    "rmse_percent",
    "score",
    "simulate_factual",
    "tumour_frame",
    "tumour_task",
]
