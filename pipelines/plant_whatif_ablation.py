"""Which model options make the plant what-if answers right? Same scenario, same step budget.

Trains one small model per variant on the demo's scenario (4 clusters, 42 days at 15 min,
operator confounding 1.0) for a fixed number of optimizer steps, then scores forecasts and the
hold-vs-scale-out what-if against the simulator exactly as ``tsloop demo`` does.

    python pipelines/plant_whatif_ablation.py                     # the four variants below
    python pipelines/plant_whatif_ablation.py --seed 1 --epochs 6 --batches 150

Prints one row per variant; results of the runs that set the demo's defaults are in the
closing note of the demo's issue and in tsloop/demo/run.py.
"""

from __future__ import annotations

import argparse
import json

import pandas as pd
import torch

from tsloop.data.task import load_task
from tsloop.demo.evaluate import evaluate_forecasts, evaluate_whatif, origins_in_test_part
from tsloop.demo.scenario import make_scenario
from tsloop.forecaster import Forecaster
from tsloop.model.config import ModelConfig
from tsloop.train.config import TrainConfig
from tsloop.tracking.training import fit_and_record

VARIANTS = {
    "patch8": {"patch_len": 8},
    "patch8+one_step": {"patch_len": 8, "one_step_weight": 1.0},
    "patch4": {"patch_len": 4},
    "patch4+one_step": {"patch_len": 4, "one_step_weight": 1.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batches", type=int, default=150, help="training batches per epoch")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", default="outputs/plant_whatif_ablation")
    args = parser.parse_args()
    torch.set_num_threads(1)
    scenario = make_scenario(4, 42, 15, args.seed)
    task = load_task(scenario.spec, frame=scenario.frame)
    s = task.spec
    rows = []
    for name in args.variants.split(","):
        cfg = ModelConfig.preset("small", dims=s.dims, context_length=s.context_length, horizon=s.horizon,
                                 **VARIANTS[name])
        train = TrainConfig(max_epochs=args.epochs, limit_train_batches=args.batches, limit_val_batches=40,
                            train_stride=2, val_stride=2, patience=args.epochs, seed=args.seed, progress_bar=False)
        result = fit_and_record(task, cfg, train, out_dir=f"{args.out}/{name}", experiment="plant-whatif-ablation", run_name=name)
        forecaster = Forecaster.from_bundle_path(result.bundle_path)
        forecasts = evaluate_forecasts(forecaster, scenario, origins_in_test_part(scenario, 24), 96)
        _, whatif = evaluate_whatif(forecaster, scenario, origins_in_test_part(scenario, 12))
        rows.append({"variant": name, "train_s": round(result.wall_time_s),
                     "crps_over_naive": forecasts["tsloop_over_naive"].mean(), **whatif})
        print(json.dumps(rows[-1]), flush=True)
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
