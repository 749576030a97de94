"""``tsloop probe``: what do the intermediate latents of a deferred rollout still know?"""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  tsloop probe --model outputs/probe/plant/dd-s0 --task pipelines/probe/tasks/plant_probe.yaml --k 4,8,16,32
  tsloop probe --model 0123456789abcdef0123456789abcdef --task tasks/smap_e9.yaml --modes imagined,teacher
  tsloop probe --model model.pt --task tasks/plant_whatif.yaml --families ridge --max-windows 300

For each window the model encodes the context into h_0 and rolls K outer steps (patches of
patch_len time steps) under the logged plan; probes read h_1 .. h_{K-1} and predict patch k's
targets (R², MAE, high-frequency R²), its events (AUPRC, recall at 1% false alarms) and the
first event's step. Probes are fitted on training windows, regularised on validation windows
and scored on test windows, with bootstrap intervals over test windows. The task's horizon is
replaced by K_max x patch_len, so K may exceed the trained horizon. Several models and seeds:
pipelines/probe/run.py.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "probe", help="probe the intermediate latents of deferred rollouts",
        description="Fit linear (ridge) and MLP probes on the latents h_1..h_{K-1} of K-step rollouts "
        "and score what they recover: dense targets, rare events, event timing.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="model.pt, training output folder, or MLflow run id")
    p.add_argument("--task", required=True, help="task file (its data, roles and split are used)")
    p.add_argument("--k", default="4,8,16,32", help="rollout lengths K in outer steps (default 4,8,16,32)")
    p.add_argument("--modes", default="imagined",
                   help="latents: imagined (deferred/what-if regime) and/or teacher (future observations fed)")
    p.add_argument("--families", default="ridge,mlp,head", help="probe families: ridge, mlp, head (the model's own decoder)")
    p.add_argument("--strides", default="64,32,32", help="window strides of train,val,test (time steps)")
    p.add_argument("--max-windows", type=int, help="cap windows per part (evenly spaced), for quick looks")
    p.add_argument("--reps", type=int, default=200, help="bootstrap replicates (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="folder for scores.csv, per_step.csv and plots (default outputs/probe/<task>)")
    p.add_argument("--experiment", default="tsloop-probe", help="MLflow experiment (default tsloop-probe)")
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    p.set_defaults(func=run)


def _ints(text: str, flag: str) -> tuple[int, ...]:
    from tsloop.errors import SpecError

    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise SpecError(f"{flag} {text!r}: expected comma-separated integers, e.g. 4,8,16,32") from None
    if not values or min(values) < 1:
        raise SpecError(f"{flag} {text!r}: expected positive integers")
    return values


def run(args: argparse.Namespace) -> int:
    from tsloop.data.spec import TaskSpec
    from tsloop.errors import SpecError
    from tsloop.forecaster import Forecaster
    from tsloop.probe.evaluate import FAMILIES, probe_model, score_runs, step_curves
    from tsloop.probe.latents import MODES
    from tsloop.output import write_json, write_tables
    from tsloop.probe.report import HEADLINE, flat_metrics, markdown, plot_steps, plot_vs_k

    ks = tuple(sorted(set(_ints(args.k, "--k"))))
    if max(ks) < 2:
        raise SpecError("--k: at least one K >= 2 is needed (K pools the intermediate steps 1..K-1)")
    strides = _ints(args.strides, "--strides")
    if len(strides) != 3:
        raise SpecError(f"--strides {args.strides!r}: give three strides, train,val,test")
    modes = tuple(m.strip() for m in args.modes.split(","))
    families = tuple(f.strip() for f in args.families.split(","))
    for value, allowed, flag in ((modes, MODES, "--modes"), (families, FAMILIES, "--families")):
        bad = [v for v in value if v not in allowed]
        if bad:
            raise SpecError(f"{flag}: unknown {bad}; choose from {list(allowed)}")
    spec = TaskSpec.from_yaml(args.task)
    model = Forecaster.load(args.model).model
    out = Path(args.out or Path("outputs/probe") / spec.name)
    out.mkdir(parents=True, exist_ok=True)
    print(f"probing {args.model} on {spec.name}: K = {ks}, patch_len {model.cfg.patch_len}, "
          f"{max(ks) * model.cfg.patch_len} future steps")
    result = probe_model(model, spec, k_max=max(ks), modes=modes, families=families, strides=strides,
                         max_windows=args.max_windows, seed=args.seed)
    table = score_runs([result], ks, reps=args.reps, seed=args.seed)
    table.insert(0, "model", Path(str(args.model)).stem if Path(str(args.model)).suffix else Path(str(args.model)).name)
    curves = step_curves([result])
    curves.insert(0, "model", table["model"].iloc[0])
    write_tables([(curves, out / "per_step.csv"), (table, out / "scores.csv")])  # both or neither
    plots = plot_vs_k(table, out) + [plot_steps(curves, out)]
    for metric, (channel, label) in HEADLINE.items():
        channels = [channel] if channel else list(result.events)
        for ch in channels:
            text = markdown(table, metric, ch)
            if text:
                print(f"\n{label} [{ch}]\n{text}")
    write_json({"sizes": result.sizes, "chosen": result.chosen}, out / "probe.json")
    if not args.no_mlflow:
        params = dict(model=args.model, task=spec.name, k=ks, modes=modes, families=families, strides=strides,
                      reps=args.reps, **result.sizes)
        from tsloop.tracking.record import log_result

        run_id = log_result(args.experiment, f"probe-{spec.name}", params=params, metrics=flat_metrics(table),
                            artifacts=plots + [out / "scores.csv", out / "per_step.csv"])
        if run_id:
            print(f"\nMLflow run {run_id} (experiment {args.experiment})")
    print(f"scores: {out / 'scores.csv'}; plots: {out}")
    return 0
