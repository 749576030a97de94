"""How every command names a task: a task file, or a data file plus role flags."""

from __future__ import annotations

import argparse

from tsloop.errors import SpecError


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("task (a task file, or --data with role flags)")
    g.add_argument("--task", help="task file (YAML), e.g. tasks/epf_np.yaml")
    g.add_argument("--data", help="CSV, CSV.gz or Parquet file (instead of --task)")
    g.add_argument("--target", help="comma-separated target columns")
    g.add_argument("--past-exog", help="comma-separated past-only exogenous columns")
    g.add_argument("--known-future", help="comma-separated known-future exogenous columns")
    g.add_argument("--intervention", help="comma-separated intervention (control) columns")
    g.add_argument("--event", help="comma-separated binary event columns")
    g.add_argument("--static", help="comma-separated static columns")
    g.add_argument("--transforms", help="per-column transforms, e.g. latency_ms=log1p,price=asinh (log1p, log, asinh)")
    g.add_argument("--calendar", help="clock features computed from the timestamp as known-future inputs, "
                                      "e.g. hour,weekday (minute, hour, weekday, month)")
    g.add_argument("--timestamp", default="timestamp", help="timestamp column (default timestamp)")
    g.add_argument("--series-id", help="series id column (long format)")
    g.add_argument("--freq", help="sampling frequency: 5min, 1h, 1d, or 'step' for integer indices")
    g.add_argument("--context", type=int, help="context length (overrides the task file's)")
    g.add_argument("--horizon", type=int, help="horizon (overrides the task file's)")
    g.add_argument("--fractions", help="train,val,test fractions, e.g. 0.7,0.1,0.2")
    g.add_argument("--boundaries", help="train_end,val_end,test_end row indices per series")


def spec_from_args(args: argparse.Namespace):
    """The TaskSpec the flags describe."""
    from dataclasses import replace

    from tsloop.data.spec import TaskSpec

    if args.task and args.data:
        raise SpecError("give either --task or --data, not both")
    if args.task:
        spec = TaskSpec.from_yaml(args.task)
        changes = {k: v for k, v in (("context_length", args.context), ("horizon", args.horizon)) if v is not None}
        return replace(spec, **changes) if changes else spec
    if not args.data:
        raise SpecError("name the data: --task tasks/<name>.yaml, or --data FILE with --target and --freq")
    missing = [flag for flag, value in (("--target", args.target), ("--freq", args.freq),
                                        ("--context", args.context), ("--horizon", args.horizon)) if value is None]
    if missing:
        raise SpecError(f"--data needs {', '.join(missing)} as well (or use a task file with --task)")
    return TaskSpec.from_flags(
        args.data, args.target, args.freq, args.context, args.horizon,
        timestamp=args.timestamp, series_id=args.series_id, past_exog=args.past_exog,
        known_future=args.known_future, intervention=args.intervention, event=args.event,
        static=args.static, fractions=args.fractions, boundaries=args.boundaries, transforms=args.transforms,
        calendar=args.calendar,
    )


def task_from_args(args: argparse.Namespace):
    """Read, validate, split and scale the task the flags describe."""
    from tsloop.data.task import load_task

    return load_task(spec_from_args(args))
