"""Score the tumour benchmark's reference predictors over the papers' five seeds.

    python pipelines/tumour_reference.py                 # gamma 0..4, full protocol sizes
    python pipelines/tumour_reference.py --gamma 4 --train 2000 --test 300

Prints RMSE (% of the death volume) as mean ± sd over seeds: one-step, then tau = 2..6 for
the 'sliding_treatment' and 'random_trajectories' families.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tsloop.sim.tumour import PAPER_SEEDS, make_benchmark, mean_sd, reference_predictors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gamma", type=float, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(PAPER_SEEDS))
    parser.add_argument("--train", type=int, default=10_000)
    parser.add_argument("--test", type=int, default=1_000)
    args = parser.parse_args()
    for gamma in args.gamma:
        start = time.perf_counter()
        runs = [
            reference_predictors(make_benchmark(gamma, seed, n_train=args.train, n_val=args.test, n_test=args.test))
            for seed in args.seeds
        ]
        print(f"gamma = {gamma:g} ({len(runs)} seeds, {time.perf_counter() - start:.1f} s)")
        for name in runs[0]:
            one = mean_sd([r[name]["one_step"] for r in runs])
            line = f"  {name:12s} one-step {one[0]:.3f} ± {one[1]:.3f}"
            for family in ("sliding_treatment", "random_trajectories"):
                taus = np.array([r[name][family] for r in runs])  # (seeds, 5)
                line += f" | {family[:7]} " + " ".join(f"{m:.2f}±{s:.2f}" for m, s in zip(taus.mean(0), taus.std(0, ddof=1)))
            print(line)


if __name__ == "__main__":
    main()
