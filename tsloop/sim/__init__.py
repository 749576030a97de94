"""Simulators with exact counterfactual ground truth.

No recorded dataset can say what would have happened under another plan, so what-if
accuracy is measured here. Both simulators draw all randomness before any plan is
known (common random numbers): a factual and a counterfactual trajectory differ only
by the plan.

- `tsloop.sim.plant`: a fleet of service clusters (the built-in telemetry dataset), with
  an operator policy whose confounding strength is a parameter, and an oracle giving the
  exact predictive law (and CRPS) from any state under any plan.
- `tsloop.sim.tumour`: the tumour-growth PK-PD benchmark of RMSN / CRN / Causal Transformer.
- `tsloop.sim.controlled`: a small linear system whose operator reacts to the target, with its
  effect in closed form: the negative and positive causal controls of every what-if method.

The data layer's source registry calls the two loaders (a task's ``source: {loader: plant, ...}``
or ``source: {loader: tumour, ...}``); the tasks use 8 x 20,000 plant steps and 10,000 patients:

    >>> load_plant_frame(series=2, steps=100, seed=0, confounding=1.0).shape
    (200, 24)
    >>> load_tumour_frame(gamma=2.0, seed=10, cohort="train", patients=10).shape
    (600, 8)
"""

from tsloop.sim.plant.frame import load_plant_frame
from tsloop.sim.tumour.frame import load_tumour_frame

__all__ = ["load_plant_frame", "load_tumour_frame"]
