"""``tsloop data``: inspect and validate telemetry against a task.

Examples (plant.parquet as ``tsloop simulate plant ... --out plant.parquet`` writes it)::

    tsloop data check --task tasks/epf_np.yaml
    tsloop data check --task tasks/etth1_MS.yaml --json
    tsloop data check --data plant.parquet --series-id series --target cpu_util,latency_p95 \\
        --intervention replicas --freq 5min --context 96 --horizon 24
"""

from __future__ import annotations

import argparse

from tsloop.cli.taskargs import add_task_arguments, task_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="check telemetry against a task spec",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="validate a task's data; print rows, series, roles, split sizes and warnings",
        description="Validate a task's data. Give --task, or --data with the column flags.",
    )
    add_task_arguments(check)
    check.add_argument("--json", action="store_true", help="print a machine-readable summary")
    check.set_defaults(func=check_command)


def check_command(args: argparse.Namespace) -> int:
    import json

    task = task_from_args(args)
    print(json.dumps(task.summary(), indent=2) if args.json else task.describe())
    return 0
