"""``tsloop sync``: copy a run kept locally (tracking server was down) to a tracking server."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  tsloop sync --run 3f2a...c9 --to http://mlflow.internal:5000
  tsloop sync --run 3f2a...c9 --to http://mlflow.internal:5000 --from sqlite:///other/mlflow.db

A training run that could not reach MLFLOW_TRACKING_URI logs to the local store (./mlruns) with
the tag tsloop.unsynced_remote; this copies its params, metric histories, tags and artifacts.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sync", help="copy a local MLflow run to a tracking server",
        description="Copy one MLflow run (params, full metric histories, tags, artifacts) to another "
        "tracking store, e.g. after training logged locally because the server was unreachable.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--run", required=True, help="run id in the source store")
    p.add_argument("--to", required=True, help="target tracking URI, e.g. http://host:5000")
    p.add_argument("--from", dest="source", help="source tracking URI (default: the local store ./mlruns)")
    p.add_argument("--experiment", help="experiment on the target (default: the run's own)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tsloop.tracking.runs import sync_run

    new_id = sync_run(args.run, args.to, from_uri=args.source, experiment=args.experiment)
    print(f"run {args.run} copied to {args.to} as run {new_id}")
    return 0
