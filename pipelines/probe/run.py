"""Probe pipeline: several models x seeds on one task -> scores with intervals, plots, MLflow, a report.

Stages (both by default; ``--stage probe`` lets probing start while later seeds still train)::

    # 1. train (pipelines/probe/train_models.py), then
    python pipelines/probe/run.py --task pipelines/probe/tasks/plant_probe.yaml \
        --models outputs/probe/plant_steps --variants dd,stepwise,noloop,untrained --seeds 0,1,2 \
        --teacher dd --k 4,8,16,32 --out pipelines/probe/results/plant

``--models DIR`` holds ``<variant>-s<seed>/model.pt``. Each model's probe run (latents of train,
val and test windows, probes fitted, test predictions) is cached next to it as ``probe_run.pt``.
The report stage bootstraps over test windows and seeds, writes ``scores.csv``, ``per_step.csv``,
``tables.md`` and plots to ``--out`` and logs one run to the MLflow experiment ``tsloop-probe``.
Latents: ``imagined`` for every variant, plus ``teacher`` (future observations fed) for the
``--teacher`` variants: the upper reference. Tasks named ``epf_*``/``nab_*`` get their derived
event column (EPF price spikes, NAB anomaly windows) from ``events.task_frame``. A model whose
``model.pt`` is newer than its cached probe run is probed again.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from tsloop.data.spec import TaskSpec
from tsloop.forecaster import Forecaster
from tsloop.output import atomic_path, write_tables
from tsloop.probe.evaluate import probe_model, score_runs, step_curves
from tsloop.probe.latents import probe_task
from tsloop.probe.storage import load_run, save_run
from tsloop.probe.report import HEADLINE, flat_metrics, markdown, plot_steps, plot_vs_k
from tsloop.tracking.record import log_result

from events import task_frame  # pipelines/probe/events.py: derived event columns (EPF spikes, NAB windows)


def probe_stage(args, spec: TaskSpec, ks: tuple[int, ...]) -> None:
    task = None
    for seed in args.seeds:
        for variant in args.variants:
            folder = Path(args.models) / f"{variant}-s{seed}"
            cache = folder / "probe_run.pt"
            if not (folder / "model.pt").is_file():
                continue
            if cache.is_file() and cache.stat().st_mtime > (folder / "model.pt").stat().st_mtime:
                continue  # probed after the model was last written
            start = time.perf_counter()
            model = Forecaster.load(folder).model
            if task is None:  # every model of a task shares context and patch length
                task = probe_task(spec, model.cfg.context_length, model.cfg.patch_len, max(ks), task_frame(spec))
            modes = ("imagined", "teacher") if variant in args.teacher else ("imagined",)
            run = probe_model(model, task, k_max=max(ks), modes=modes, strides=args.strides, seed=seed,
                              max_windows=args.max_windows)
            save_run(run, cache)
            print(f"{variant} seed {seed}: probed in {time.perf_counter() - start:.0f}s", flush=True)


def report_stage(args, spec: TaskSpec, ks: tuple[int, ...]) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tables, curves, seeds_used = [], [], {}
    for variant in args.variants:
        runs = []
        for seed in args.seeds:
            cache = Path(args.models) / f"{variant}-s{seed}" / "probe_run.pt"
            if cache.is_file():
                runs.append(load_run(cache))
        if not runs:
            continue
        seeds_used[variant] = len(runs)
        table = score_runs(runs, ks, reps=args.reps)
        table.insert(0, "model", variant)
        tables.append(table)
        c = step_curves(runs)
        c.insert(0, "model", variant)
        curves.append(c)
        print(f"{variant}: scored {len(runs)} seed(s)", flush=True)
    table, curve = pd.concat(tables, ignore_index=True), pd.concat(curves, ignore_index=True)
    write_tables([(table, out / "scores.csv"), (curve, out / "per_step.csv")])
    title = f"{spec.name}: "
    plots = plot_vs_k(table, out / "plots", title) + [plot_steps(curve, out / "plots", title)]
    events = sorted(set(table[table.metric == "step_auprc"].channel) - {"mean"})
    sections = [f"# Probe scores: {spec.name}\n\nseeds per model: {seeds_used}; mean over seeds "
                f"[95% bootstrap interval over test windows and seeds, {args.reps} replicates]\n"]
    for metric, (channel, label) in HEADLINE.items():
        for ch in [channel] if channel else events:
            text = markdown(table, metric, ch)
            if text:
                sections.append(f"## {label} — {ch}\n\n{text}\n")
    mae = table[(table.metric == "dense_mae") & (table.K == max(ks)) & (table.family != "head")
                & (table.channel != "mean")]  # a mean of MAEs in different units means nothing
    if not mae.empty:
        wide = mae.pivot_table(index=["model", "mode", "family"], columns="channel", values="mean")
        lines = ["| model | latents | probe | " + " | ".join(wide.columns) + " |", "|" + "---|" * (3 + wide.shape[1])]
        lines += ["| " + " | ".join(idx) + " | " + " | ".join(f"{v:.3g}" for v in row) + " |" for idx, row in wide.iterrows()]
        sections.append(f"## dense MAE per channel, data units, K={max(ks)}\n\n" + "\n".join(lines) + "\n")
    with atomic_path(out / "tables.md") as tmp:
        tmp.write_text("\n".join(sections))
    params = dict(task=spec.name, k=ks, variants=args.variants, seeds=args.seeds, teacher=args.teacher,
                  strides=args.strides, reps=args.reps, models=args.models, max_windows=args.max_windows)
    run_id = log_result("tsloop-probe", f"probe-{spec.name}", params=params, metrics=flat_metrics(table),
                        artifacts=plots + [out / "scores.csv", out / "per_step.csv", out / "tables.md"],
                        tags={"probe.task": spec.name})
    print(f"report: {out / 'tables.md'}; MLflow run {run_id}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True)
    p.add_argument("--models", required=True, help="folder of <variant>-s<seed>/model.pt")
    p.add_argument("--variants", default="dd,dd_terminal,stepwise,noloop")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--teacher", default="dd", help="variants also probed with teacher-forced latents")
    p.add_argument("--k", default="4,8,16,32")
    p.add_argument("--strides", default="128,64,32", help="window strides train,val,test")
    p.add_argument("--max-windows", type=int)
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--stage", choices=["probe", "report", "all"], default="all")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    args.variants = args.variants.split(",")
    args.teacher = [v for v in args.teacher.split(",") if v]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.strides = tuple(int(s) for s in args.strides.split(","))
    torch.set_num_threads(1)  # tiny models: one thread is faster on a shared CPU
    spec = TaskSpec.from_yaml(args.task)
    ks = tuple(sorted(int(k) for k in args.k.split(",")))
    if args.stage in ("probe", "all"):
        probe_stage(args, spec, ks)
    if args.stage in ("report", "all"):
        report_stage(args, spec, ks)


if __name__ == "__main__":
    main()
