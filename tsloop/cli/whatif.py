"""``tsloop whatif``: compare plans of interventions with common random numbers."""

from __future__ import annotations

import argparse
from pathlib import Path

from tsloop.cli.common import add_model_argument, add_sampling_arguments, read_frame
from tsloop.errors import PlanError

EXAMPLES = """examples:
  tsloop whatif --model outputs/plant/model.pt --history recent.csv \\
      --plan keep.csv --plan scale_up.csv --objective mean:latency_p95 --out whatif.json
  tsloop whatif ... --objective any:slo_breach        # probability of at least one SLO breach
  tsloop whatif ... --objective sum:power_kw           # total power over the horizon

A plan file holds the next horizon timestamps (and series ids) with every intervention column;
known-future columns may be in it or in --future. The plan's name is its file stem.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "whatif", help="compare two or more plans of interventions",
        description="Roll each plan forward in latent space with the same random draws and report, per "
        "plan, quantiles and event probabilities and, per pair, the effect (B - A) with its interval "
        "and the probability that B beats A on the objective. Where the model learned the logging "
        "policy, each plan is scored for support (is it what the operator was seen doing in such a "
        "state?), and a pair with a plan outside that support is shown with P(better) tempered "
        "toward 0.5 and a wider interval (columns support_a, support_b, flag, prob_b_better_model).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_argument(p)
    p.add_argument("--history", required=True, help="recent rows of each series (CSV/Parquet)")
    p.add_argument("--future", help="known-future values for the horizon, if not in the plan files")
    p.add_argument("--plan", action="append", required=True, help="a plan file; give two or more")
    p.add_argument("--objective", help="AGG:CHANNEL[:min|max], e.g. mean:latency_p95 (default: mean of the first target)")
    p.add_argument("--interval", type=float, default=0.9, help="central interval of the effects (default 0.9)")
    add_sampling_arguments(p)
    p.add_argument("--out", required=True, help="effects table (.json/.csv/.parquet); plans go beside it as <stem>_plans.parquet")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tsloop.forecaster import Forecaster
    from tsloop.output import write_tables

    names = [Path(p).name.split(".")[0] for p in args.plan]
    if len(set(names)) != len(names):
        raise PlanError(f"plan files must have distinct names (their stems name the plans): {names}")
    plans = {name: read_frame(path, f"plan {name!r}") for name, path in zip(names, args.plan)}
    forecaster = Forecaster.load(args.model)
    if forecaster.is_pretrained:
        raise PlanError(f"{args.model} is a pretrained univariate model with no interventions, so it cannot compare "
                        "plans; fine-tune it on a task with intervention columns (tsloop train --task ... --init "
                        f"{args.model}) and ask that model")
    history = read_frame(args.history, "history")
    future = read_frame(args.future, "future") if args.future else None
    result = forecaster.whatif(
        history, plans, future=future, objective=args.objective,
        num_samples=args.samples, seed=args.seed, interval=args.interval,
    )
    out = Path(args.out)
    plans_out = out.with_name(f"{out.name.split('.')[0]}_plans.parquet")
    # both files or neither, even if killed: both are complete before either is put in place
    write_tables([(result.plans_frame(), plans_out), (result.effects_frame(), out)])
    print(result.summary())
    print(f"effects -> {out}; per-plan forecasts -> {plans_out}")
    return 0
