"""Fine-tuning suite (issue #16): tsloop trained from scratch against tsloop started from the
pretrained model, with the test part scored at every validation check (learning curves).

Usage::

    python -m pipelines.bench.finetune                                   # every task, seeds 0 1 2
    python -m pipelines.bench.finetune --tasks epf_np --seeds 0 --modes scratch,all
    python -m pipelines.bench.finetune --results /tmp/ft                 # outside the checkout
    python -m pipelines.bench.finetune --report-only                     # the report and plot from finetune.json

Protocol, the same for every mode:

- **what a user gets**: ``TrainConfig()`` defaults (2,000 optimizer steps, a validation check every
  200, early stopping and checkpoint choice on ``val/select``) and the ``small`` size, with only the
  seed and the start set: ``scratch`` (a fresh model), ``all`` (``--init pretrained``, every weight
  trains) or ``heads`` (``--init pretrained --finetune heads``: the copied looped core frozen).
  The shipped pretrained model *is* ``small``-sized, so the three train the same architecture.
- **learning curves**: at every validation check (and before the first step) the current model's
  median and quantiles are scored on every stride-1 test window of the task's own split, on its
  train-fitted scale (the windows of suites 1–2). ``selected`` is the test score of the model a run
  stopped there would return: the best ``val/select`` so far. Nothing is selected on test.
- **steps to match**: the first check at which a fine-tuned run's selected test MSE is at or below
  the scratch run's final one (same seed).

Results go to ``results/finetune.json`` and ``RESULTS_finetune.md`` (with ``--results``, to that
folder only); the curves' plot to ``results/plots/finetune_curves.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch

from pipelines.bench.data import LEVELS, metrics, suite_for
from pipelines.bench.zero_shot import TASKS  # the zero-shot suite's tasks: EPF x 4, ETTh1, 3 NAB series, CityLearn
from tsloop.output import atomic_path

MODES = ("scratch", "all", "heads")
RESULTS = Path(__file__).parent / "results" / "finetune.json"
REPORT = Path(__file__).parent / "RESULTS_finetune.md"


class TestCurve(pl.Callback):
    """Scores the model on the test windows before training and after every validation check."""

    def __init__(self, task):
        self.loader = torch.utils.data.DataLoader(task.dataset("test"), batch_size=512, shuffle=False)
        self.points: list[dict] = []

    def _score(self, module, step: int, select: float | None) -> None:
        model, was_training = module.model, module.model.training
        model.eval()
        pick = [model.cfg.quantile_index(level) for level in LEVELS]
        quantiles, truth = [], []
        rng = torch.get_rng_state()  # iterating a DataLoader draws a seed: training must not see it
        with torch.no_grad():
            for batch in self.loader:
                quantiles.append(model(batch).quantiles[..., pick].numpy())
                truth.append(batch["future_target"].numpy())
        torch.set_rng_state(rng)
        model.train(was_training)
        q = np.sort(np.concatenate(quantiles), axis=-1)
        scores = metrics(q[..., 4], np.concatenate(truth), q)
        self.points.append({"step": step, "val_select": select, **{k: float(v) for k, v in scores.items()}})

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.global_step == 0:
            self._score(pl_module, 0, None)

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        select = trainer.callback_metrics.get("val/select")
        self._score(pl_module, int(trainer.global_step), None if select is None else float(select))


def selected(points: list[dict], key: str = "mse") -> list[tuple[int, float]]:
    """(step, test score of the best-``val_select`` checkpoint so far) at every validation check."""
    out, best = [], None
    for point in points:
        if point["val_select"] is None:
            continue
        if best is None or point["val_select"] < best["val_select"]:
            best = point
        out.append((point["step"], best[key]))
    return out


def run_one(name: str, mode: str, seed: int, out_root: Path) -> dict:
    from tsloop.data.task import load_task
    from tsloop.model import ModelConfig
    from tsloop.query.pretrained import file_sha256, resolve
    from tsloop.tracking.training import fit_and_record
    from tsloop.train.config import TrainConfig
    from tsloop.train.init import init_config

    suite_name, suite = suite_for(name)
    task = load_task(suite.task)
    spec = task.spec
    start = {} if mode == "scratch" else {"init": "pretrained", "finetune": mode}
    tc = TrainConfig(seed=seed, progress_bar=False, **start)
    cfg = (ModelConfig.for_task("small", spec) if mode == "scratch" else init_config("pretrained", spec))
    curve = TestCurve(task)
    result = fit_and_record(task, cfg, tc, out_dir=out_root / f"{suite_name}_{mode}_s{seed}", experiment="bench",
                            run_name=f"bench-finetune-{suite_name}-{mode}", tags={"bench": "finetune"},
                            callbacks=[curve], plots=False, pyfunc=False)
    row = {"task": suite_name, "mode": mode, "seed": seed, "steps": result.steps, "fit_s": round(result.wall_time_s, 1),
           "s_per_step": round(result.wall_time_s / max(1, result.steps), 4), "threads": result.threads,
           "curve": curve.points, "selected_mse": selected(curve.points),
           "selected_crps": selected(curve.points, "crps")}
    if mode != "scratch":  # which checkpoint it was adapted from: the shipped one changes between versions
        row["pretrained_sha256"] = file_sha256(resolve("pretrained"))
        prefit = result.extra.get("prefit") or {}
        if "start" in prefit:  # the pretrained forecast or a fresh head (tsloop/train/adapt_start.py)
            row["start"], row["start_compare_mse"] = prefit["start"], prefit["compare_mse"]
    final = row["selected_mse"][-1][1] if row["selected_mse"] else float("nan")
    print(f"[finetune] {suite_name} {mode} s{seed}: {result.steps} steps in {result.wall_time_s:.0f} s; "
          f"selected test MSE {final:.4f}", flush=True)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default=",".join(TASKS), help="suite names or single-series task files")
    p.add_argument("--modes", default="scratch,all", help=f"any of {','.join(MODES)}")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default="outputs/bench/finetune", help="folder for the runs' model files")
    p.add_argument("--results", help="folder for finetune.json and the report (default pipelines/bench)")
    p.add_argument("--report-only", action="store_true", help="rewrite the report and plot from finetune.json; train nothing")
    args = p.parse_args(argv)
    modes = args.modes.split(",")
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        p.error(f"unknown modes {unknown}; choose from {MODES}")
    path = Path(args.results) / RESULTS.name if args.results else RESULTS
    done = json.loads(path.read_text()) if path.is_file() else {"rows": []}  # runs add to what is there
    if "command" in done:  # written before the list: its one command
        done["commands"] = [done.pop("command")]
    if not args.report_only:  # every command that added runs, in order
        done["commands"] = [*done.get("commands", []), "python -m pipelines.bench.finetune " + " ".join(argv or sys.argv[1:])]
    for seed in [] if args.report_only else args.seeds:
        for name in args.tasks.split(","):
            for mode in modes:
                row = run_one(name, mode, seed, Path(args.out))
                done["rows"] = [r for r in done["rows"] if (r["task"], r["mode"], r["seed"]) !=
                                (row["task"], mode, seed)] + [row]
                with atomic_path(path) as tmp:  # after every run: a stopped suite keeps what it measured
                    tmp.write_text(json.dumps(done, indent=1))
    report_path = path.parent.parent / REPORT.name if not args.results else Path(args.results) / REPORT.name
    with atomic_path(report_path) as tmp:
        tmp.write_text(report(done))
    plot_path = path.parent / "plots" / "finetune_curves.png"
    plot(done, plot_path)
    print(f"[finetune] scores: {path}; report: {report_path}; curves: {plot_path}", flush=True)
    return 0


def _at(points: list[tuple[int, float]], step: int) -> float:
    """The selected score at the last check at or before ``step``."""
    before = [v for s, v in points if s <= step]
    return before[-1] if before else float("nan")


def summarise(rows: list[dict]) -> dict:
    """Per task: scratch and fine-tuned final scores, the score at each check, and steps to match."""
    by = {}
    for row in rows:
        by.setdefault(row["task"], {}).setdefault(row["mode"], {})[row["seed"]] = row
    out = {}
    for task, modes in by.items():
        scratch = modes.get("scratch", {})
        entry = {}
        for mode, seeds in modes.items():
            finals = [r["selected_mse"][-1][1] for r in seeds.values()]
            crps = [r["selected_crps"][-1][1] for r in seeds.values()]
            match, quarter, final_better, checks_won = [], [], [], []
            for seed, r in seeds.items():
                if mode == "scratch" or seed not in scratch:
                    continue
                base = scratch[seed]["selected_mse"]
                hit = next((s for s, v in r["selected_mse"] if v <= base[-1][1]), None)
                match.append(hit)
                quarter.append(hit is not None and hit <= scratch[seed]["steps"] // 4)
                final_better.append(r["selected_mse"][-1][1] < base[-1][1])
                common = sorted({s for s, _ in base} & {s for s, _ in r["selected_mse"]})
                checks_won.append((sum(_at(r["selected_mse"], k) < _at(base, k) for k in common), len(common)))
            entry[mode] = {"mse": finals, "crps": crps, "seeds": sorted(seeds), "match_steps": match,
                           "within_quarter": quarter, "final_better": final_better, "checks_won": checks_won,
                           "steps": [r["steps"] for r in seeds.values()], "s_per_step": [r["s_per_step"] for r in seeds.values()],
                           "step0_mse": [r["curve"][0]["mse"] for r in seeds.values() if r["curve"][0]["step"] == 0],
                           "starts": [{"pretrained forecast": "P", "fresh head": "F"}.get(r.get("start"), "–")
                                      for r in seeds.values()]}
        out[task] = entry
    return out


def started_from(rows: list[dict]) -> str:
    """Which pretrained checkpoints the fine-tuned rows were adapted from (sha256 prefixes, with their rows)."""
    counts = {}
    for row in rows:
        if row["mode"] != "scratch":
            key = row.get("pretrained_sha256", "unrecorded")[:12]
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        return ""
    listed = "; ".join(f"`{sha}…` ({n} runs)" for sha, n in sorted(counts.items()))
    return f"Fine-tuned runs started from the pretrained checkpoint with sha256 {listed}."


def report(done: dict) -> str:
    """The suite's section of RESULTS.md."""
    ms = lambda xs: f"{np.mean(xs):.3f} ± {np.std(xs):.3f}" if len(xs) > 1 else (f"{xs[0]:.3f}" if xs else "–")
    summary = summarise(done["rows"])
    lines = [
        "## Fine-tuning suite: from the pretrained model against from scratch (issue #16)",
        "",
        f"Commands: {', '.join(f'`{c}`' for c in done.get('commands', []))}. `TrainConfig()` defaults for every mode (2,000 optimizer steps, "
        "a check every 200, early stopping and checkpoint choice on validation); the test part's stride-1 windows "
        "scored at every check. *Selected*: the test score of the checkpoint a run stopped at that check would "
        "return (best validation so far). *Steps to match*: the first check at which the fine-tuned run's selected "
        "test MSE is at or below the same seed's final from-scratch MSE (– where it never is); *≤ ¼*: seeds whose "
        "match came within a quarter of the scratch run's steps. *Better at the end*: seeds whose fine-tuned "
        "final MSE is below the scratch run's; *checks won*: checks at which the fine-tuned run's selected MSE is "
        "below the scratch run's at the same step, over all seeds. *Untrained*: each model before its first step, "
        "its direct path already fitted by least squares (scratch's to the target; the adapted model's from the start "
        "its validation windows preferred, *start*: `P` the pretrained forecast with the path fitted to what it "
        "leaves, `F` a fresh head with the path fitted to the target, one letter per seed, – where unrecorded). "
        f"mean ± sd over seeds. {started_from(done['rows'])}",
        "",
        "| task | seeds | steps run (scratch) | scratch MSE | fine-tuned (all) MSE | heads-only MSE | untrained MSE scratch / all "
        "| start (all) | better at the end | checks won | steps to match | ≤ ¼ | scratch CRPS | fine-tuned CRPS "
        "| s/step scratch / all / heads |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for task, entry in summary.items():
        s, a, h = entry.get("scratch", {}), entry.get("all", {}), entry.get("heads", {})
        steps = ", ".join("–" if m is None else str(m) for m in a.get("match_steps", []))
        of = lambda flags: f"{sum(flags)} of {len(flags)}"
        won = a.get("checks_won", [])
        checks = f"{sum(w for w, _ in won)} of {sum(n for _, n in won)}"
        sps = " / ".join(f"{np.mean(e['s_per_step']):.3f}" if e else "–" for e in (s, a, h))
        lines.append(f"| {task} | {len(s.get('seeds', []))} | {', '.join(map(str, s.get('steps', [])))} "
                     f"| {ms(s.get('mse', []))} | {ms(a.get('mse', []))} | {ms(h.get('mse', []))} "
                     f"| {ms(s.get('step0_mse', []))} / {ms(a.get('step0_mse', []))} | {''.join(a.get('starts', [])) or '–'} "
                     f"| {of(a.get('final_better', []))} | {checks} | {steps} "
                     f"| {of(a.get('within_quarter', []))} | {ms(s.get('crps', []))} | {ms(a.get('crps', []))} | {sps} |")
    lines += ["", "Learning curves (selected test MSE at each check, mean over seeds; a run that ended sooner "
              "keeps its last value; plot: `results/plots/finetune_curves.png`):", "",
              "| task | mode | " + " | ".join(str(k) for k in range(200, 2001, 200)) + " |",
              "|---|---|" + "---|" * 10]
    by = {}
    for row in done["rows"]:
        by.setdefault((row["task"], row["mode"]), []).append(row)
    for (task, mode), rows in sorted(by.items()):
        cells = [np.mean([_at(r["selected_mse"], k) for r in rows]) for k in range(200, 2001, 200)]
        lines.append(f"| {task} | {mode} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines) + "\n"


def plot(done: dict, path: Path) -> Path:
    """Selected test MSE against optimizer steps, one panel per task: each mode's mean over seeds,
    its seeds thin; the fine-tuned model before its first step as a dot at 0."""
    from tsloop.plots import plt, save_figure

    tasks = sorted({row["task"] for row in done["rows"]})
    cols = min(3, len(tasks))
    fig, axes = plt.subplots(-(-len(tasks) // cols), cols, figsize=(4.2 * cols, 3 * -(-len(tasks) // cols)),
                             squeeze=False)
    colours = {"scratch": "tab:grey", "all": "tab:blue", "heads": "tab:orange"}
    for ax, task in zip(axes.flat, tasks):
        for mode, colour in colours.items():
            rows = [r for r in done["rows"] if r["task"] == task and r["mode"] == mode]
            if not rows:
                continue
            steps = sorted({s for r in rows for s, _ in r["selected_mse"]})
            for r in rows:
                ax.plot(*zip(*r["selected_mse"]), color=colour, lw=0.5, alpha=0.4)
            ax.plot(steps, [np.mean([_at(r["selected_mse"], k) for r in rows]) for k in steps], color=colour,
                    marker="o", ms=3, label=mode)
            if mode != "scratch":
                ax.plot([0], [np.mean([r["curve"][0]["mse"] for r in rows])], "x", color=colour)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("test MSE (selected)")
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


if __name__ == "__main__":
    raise SystemExit(main())
