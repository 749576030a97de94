"""``tsloop simulate``: write simulated telemetry with a sidecar task file.

Examples::

    tsloop simulate plant --series 8 --steps 20000 --seed 0 --confounding 1.0 --out plant.parquet
    tsloop simulate plant --series 2 --steps 4000 --task-kind forecast --out small.parquet
    tsloop simulate tumour --gamma 2 --seed 10 --out tumour.parquet
    tsloop simulate tumour --gamma 4 --cohort test_one_step --patients 200 --out test.parquet
    tsloop simulate tumour --gamma 4 --cohort test_one_step --ct-compatible --out test_ct.parquet

Each writes the Parquet file and ``<out stem>.task.yaml`` beside it (its ``data:`` is the
Parquet file's name), so ``tsloop data check --task <out stem>.task.yaml`` works on it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tsloop.errors import SpecError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="write simulated telemetry (plant) or the tumour benchmark, with a task file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(dest="simulator", metavar="SIMULATOR", required=True)

    plant = kinds.add_parser("plant", help="a fleet of service clusters run by a reactive operator")
    plant.add_argument("--series", type=int, default=8, help="clusters (default 8)")
    plant.add_argument("--steps", type=int, default=20_000, help="time steps per cluster (default 20000)")
    plant.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    plant.add_argument(
        "--confounding", type=float, default=1.0,
        help="how strongly the logging operator reacts to what it sees; 0 = not at all (default 1.0)",
    )
    plant.add_argument("--step-minutes", type=int, default=5, help="minutes per step (default 5)")
    plant.add_argument("--start", default="2024-01-01 00:00", help="timestamp of the first step (default 2024-01-01 00:00)")
    plant.add_argument(
        "--task-kind", choices=("whatif", "forecast"), default="whatif",
        help="sidecar task: controls as interventions (whatif, default) or past-only inputs (forecast)",
    )
    plant.add_argument("--out", required=True, help="output Parquet file")
    plant.set_defaults(func=plant_command)

    tumour = kinds.add_parser("tumour", help="the tumour-growth counterfactual benchmark (factual cohort)")
    tumour.add_argument("--gamma", type=float, default=2.0, help="confounding strength, 0..4 in the papers (default 2)")
    tumour.add_argument("--seed", type=int, default=10, help="random seed; the papers use 10 101 1010 10101 101010")
    tumour.add_argument(
        "--cohort", default="train",
        help="train (default), val, test_one_step or test_multi_step: the factual part of that cohort",
    )
    tumour.add_argument(
        "--patients", type=int, default=None,
        help="patients in the cohort (default: the protocol's 10000 for train, 1000 otherwise)",
    )
    tumour.add_argument("--days", type=int, default=60, help="maximum days per patient (default 60)")
    tumour.add_argument(
        "--ct-compatible", action="store_true",
        help="the Causal Transformer code's policies (its test sets' buffer-row policy; lagged train/val policy)",
    )
    tumour.add_argument("--out", required=True, help="output Parquet file")
    tumour.set_defaults(func=tumour_command)


def plant_command(args: argparse.Namespace) -> int:
    from tsloop.sim.plant.config import PlantConfig
    from tsloop.sim.plant.frame import plant_frame, plant_task
    from tsloop.sim.plant.simulator import PlantSimulator

    out = _output_path(args.out)
    config = PlantConfig(
        series=args.series, steps=args.steps, confounding=args.confounding,
        step_minutes=args.step_minutes, start=args.start,
    )
    sim = PlantSimulator(config, seed=args.seed)
    _, logged = sim.simulate()
    frame = plant_frame(sim, logged)
    task = plant_task(args.task_kind, config, data=out.name)
    _write(out, frame, task)
    events = {name: int(frame[name].sum()) for name in ("slo_breach", "thermal_trip")}
    print(f"wrote {out} ({len(frame)} rows, {args.series} clusters, events {events}) and {_task_path(out)}")
    return 0


def tumour_command(args: argparse.Namespace) -> int:
    from tsloop.sim.tumour.frame import load_tumour_frame, tumour_task

    out = _output_path(args.out)
    frame = load_tumour_frame(
        gamma=args.gamma, seed=args.seed, cohort=args.cohort, patients=args.patients, days=args.days,
        mode="ct" if args.ct_compatible else "default",
    )
    _write(out, frame, tumour_task(args.gamma, data=out.name))
    print(f"wrote {out} ({len(frame)} rows, {frame['series'].nunique()} patients) and {_task_path(out)}")
    return 0


def _output_path(raw: str) -> Path:
    out = Path(raw).expanduser()
    if out.suffix != ".parquet":
        raise SpecError(f"--out {raw!r}: expected a .parquet file name, e.g. --out {out.with_suffix('.parquet').name}.")
    if not out.parent.is_dir():
        raise SpecError(f"--out {raw!r}: folder {out.parent} does not exist; create it first.")
    return out


def _task_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.task.yaml")


def _write(out: Path, frame, task: dict) -> None:
    """Write the Parquet file and its sidecar task, both or neither: each goes to a temporary file,
    and only once both are complete are they renamed into place, the task file last."""
    import yaml

    from tsloop.output import atomic_path

    with atomic_path(_task_path(out)) as task_tmp, atomic_path(out) as data_tmp:
        frame.to_parquet(data_tmp, index=False)
        task_tmp.write_text(yaml.safe_dump(task, sort_keys=False))
