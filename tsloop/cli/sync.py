"""``tsloop sync``: copy a run kept locally (tracking server was down) to a tracking server."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  tsloop sync --run 3f2a...c9 --to http://mlflow.internal:5000
  tsloop sync --run 3f2a...c9 --to http://mlflow.internal:5000 --from sqlite:///other/mlflow.db

A training run that could not reach MLFLOW_TRACKING_URI logs to the local store (./mlruns) with
the tag tsloop.unsynced_remote; this copies its params, metric histories, tags and artifacts. If
the server died mid-training, the local run holds the rest of a remote run, and this completes
that remote run. Only what the target lacks is sent, so running it twice duplicates nothing.
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
    from tsloop.tracking.sync import sync_run

    target_id, sent = sync_run(args.run, args.to, from_uri=args.source, experiment=args.experiment)
    counts = ", ".join(f"{sent[k]} {k}" for k in ("params", "metrics", "tags", "artifacts"))
    print(f"sent {counts} into the {sent['into']} (only what it lacked)")
    print(f"run {args.run} copied to {args.to} as run {target_id}")
    return 0
