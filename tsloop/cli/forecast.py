"""``tsloop forecast``: quantiles and event probabilities for the next horizon."""

from __future__ import annotations

import argparse

from tsloop.cli.common import add_model_argument, add_sampling_arguments, read_frame

EXAMPLES = """examples:
  tsloop forecast --model outputs/plant/model.pt --history recent.csv --future plan.csv --out fc.parquet
  tsloop forecast --model 3f2a...c9 --history recent.parquet --out fc.csv   # an MLflow run id
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "forecast", help="forecast the next horizon from recent history",
        description="Probabilistic forecast from a trained model: per target and step the mean and "
        "quantiles of joint sample paths, and per event channel the per-step probability.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_argument(p)
    p.add_argument("--history", required=True, help="recent rows of each series (CSV/Parquet), at least context_length")
    p.add_argument("--future", help="known-future and intervention values for the next horizon steps")
    p.add_argument("--quantiles", default="0.05,0.1,0.25,0.5,0.75,0.9,0.95", help="comma-separated levels")
    add_sampling_arguments(p)
    p.add_argument("--out", required=True, help="output table: .parquet, .csv or .json")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tsloop.forecaster import Forecaster
    from tsloop.output import write_table

    levels = tuple(float(q) for q in args.quantiles.split(","))
    forecaster = Forecaster.load(args.model)
    history = read_frame(args.history, "history")
    future = read_frame(args.future, "future") if args.future else None
    result = forecaster.forecast(history, future, quantiles=levels, num_samples=args.samples, seed=args.seed)
    table = result.to_frame()
    write_table(table, args.out)
    shown = table[table["kind"] == "target"].groupby("channel")[["mean"]].agg(["first", "last"])
    print(f"forecast of {len(result.series_ids)} series x {len(result.timestamps[0])} steps -> {args.out}")
    print(shown.to_string())
    return 0
