"""``tsloop demo``: the built-in end-to-end run on the simulated plant."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  tsloop demo                 # about three minutes on 2 idle CPU cores
  tsloop demo --fast          # a smoke run in well under a minute
  tsloop demo --out outputs/demo2 --seed 1
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="simulate a service fleet, train, forecast and answer a what-if",
        description="Simulate the built-in telemetry plant, train a small looped world model, evaluate its "
        "forecasts against seasonal naive and the simulator's oracle, compare two plans (hold vs scale "
        "out) and score the answer against the exact counterfactuals. Everything is logged to MLflow.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--fast", action="store_true", help="tiny sizes, for tests and a first look")
    p.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--experiment", default="tsloop-demo", help="MLflow experiment (default tsloop-demo)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tsloop.demo.run import run_demo, summary_text

    report = run_demo(args.out, fast=args.fast, seed=args.seed, experiment=args.experiment,
                      progress_bar=not args.no_progress)
    print()
    print(summary_text(report))
    return 0
