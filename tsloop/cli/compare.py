"""``tsloop compare``: runs from MLflow side by side."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  tsloop compare                                   # the 20 newest runs of every experiment
  tsloop compare --experiment tsloop-demo --metric val/crps --metric val/mae
  tsloop compare --tag suite=epf --param model.d_model --out runs.csv --plot val/crps
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="a table of MLflow runs, side by side",
        description="List runs of the tracking store (./mlruns, or MLFLOW_TRACKING_URI) with chosen "
        "params and metrics, filtered by experiment and tags.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--experiment", action="append", help="experiment name (repeatable; default: all)")
    p.add_argument("--tag", action="append", default=[], help="KEY=VALUE filter (repeatable)")
    p.add_argument("--metric", action="append", help="metric to show (repeatable; default: all)")
    p.add_argument("--param", action="append", help="param to show (repeatable)")
    p.add_argument("--max-runs", type=int, default=20)
    p.add_argument("--out", help="also write the table (.csv/.json/.parquet)")
    p.add_argument("--plot", metavar="METRIC", help="bar chart of one metric per run, saved as PNG beside --out or ./compare.png")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import pandas as pd

    from tsloop.errors import TsloopError
    from tsloop.output import write_table
    from tsloop.tracking.runs import compare_runs

    tags = {}
    for item in args.tag:
        if "=" not in item:
            raise TsloopError(f"--tag {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        tags[key] = value
    table = compare_runs(args.experiment, tags, args.metric, args.param, args.max_runs)
    if table.empty:
        print("no runs found")
        return 0
    with pd.option_context("display.max_columns", 30, "display.width", 200, "display.float_format", "{:.4g}".format):
        print(table.drop(columns=["start"]).to_string(index=False))
    if args.out:
        write_table(table, args.out)
    if args.plot:
        from tsloop.plots import bar_chart

        if args.plot not in table:
            raise TsloopError(f"--plot {args.plot!r}: no such metric in the table (columns: {list(table.columns)})")
        png = Path(args.out).with_suffix(".png") if args.out else Path("compare.png")
        bar_chart(table["run_name"].fillna(table["run_id"].str[:8]), table[args.plot], args.plot, png)
        print(f"plot -> {png}")
    return 0
