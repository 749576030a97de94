"""``tsloop forecast``: quantiles and event probabilities for the next horizon."""

from __future__ import annotations

import argparse

from tsloop.cli.common import add_model_argument, add_sampling_arguments, read_frame

EXAMPLES = """examples:
  tsloop forecast --model outputs/plant/model.pt --history recent.csv --future plan.csv --out fc.parquet
  tsloop forecast --model 3f2a...c9 --history recent.parquet --out fc.csv   # an MLflow run id
  tsloop forecast --model pretrained --history my.csv --timestamp ts --target load --horizon 24 --out fc.csv
  tsloop forecast --model outputs/pretrain --history hosts.csv --series-id host --target cpu,mem --out fc.csv

A pretrained model (--model pretrained, or a file written by `python -m pipelines.pretrain.train`)
forecasts zero-shot, with no task file: name the --target columns (and --timestamp, --series-id);
each target is forecast on its own from its last rows (a shorter history is padded as missing), a
--horizon beyond the model's own is rolled forward on the median forecast, and the model reads no
covariates: the columns of --future are not used.
"""

ZERO_SHOT_FLAGS = ("target", "series_id", "horizon", "freq")  # only for a pretrained model


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
    g = p.add_argument_group("zero-shot (a pretrained model only: no task file)")
    g.add_argument("--target", action="append", metavar="COLUMN[,COLUMN]",
                   help="column(s) to forecast, each on its own (repeatable or comma-separated)")
    g.add_argument("--timestamp", default="timestamp", help="timestamp column of --history (default timestamp)")
    g.add_argument("--series-id", help="series id column, for a history of several series (long format)")
    g.add_argument("--horizon", type=int, help="steps to forecast (default: the model's horizon)")
    g.add_argument("--freq", help="step between rows, e.g. 15min, 1h, step (default: read from the timestamps)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tsloop.errors import SpecError
    from tsloop.forecaster import Forecaster
    from tsloop.output import write_table

    levels = tuple(float(q) for q in args.quantiles.split(","))
    forecaster = Forecaster.load(args.model)
    history = read_frame(args.history, "history")
    future = read_frame(args.future, "future") if args.future else None
    if forecaster.is_pretrained:
        if not args.target:
            raise SpecError("a pretrained model forecasts the columns you name: add --target COLUMN (repeatable), "
                            "and --timestamp / --series-id if the history's columns are not 'timestamp' / one series")
        targets = [c for item in args.target for c in item.split(",") if c.strip()]
        result = forecaster.zero_shot(history, targets, timestamp=args.timestamp, series_id=args.series_id,
                                      horizon=args.horizon, freq=args.freq, quantiles=levels,
                                      num_samples=args.samples, seed=args.seed)
    else:
        given = [f"--{name.replace('_', '-')}" for name in ZERO_SHOT_FLAGS if getattr(args, name) is not None]
        if given or args.timestamp != "timestamp":
            given += ["--timestamp"] if args.timestamp != "timestamp" else []
            raise SpecError(f"{', '.join(given)}: these flags are for a pretrained model (zero-shot); {args.model} was "
                            "trained for one task and forecasts that task's targets over its horizon. Leave them out.")
        result = forecaster.forecast(history, future, quantiles=levels, num_samples=args.samples, seed=args.seed)
    table = result.to_frame()
    write_table(table, args.out)
    shown = table[table["kind"] == "target"].groupby("channel")[["mean"]].agg(["first", "last"])
    print(f"forecast of {len(result.series_ids)} series x {len(result.timestamps[0])} steps -> {args.out}")
    if forecaster.is_pretrained:
        ignored = f"; the columns of --future ({args.future}) are not used" if future is not None else ""
        print(f"zero-shot: each target forecast on its own (univariate pretrained model, context "
              f"{forecaster.model.cfg.context_length}, horizon {forecaster.model.cfg.horizon}); covariates are not "
              f"read{ignored}")
    print(shown.to_string())
    return 0
