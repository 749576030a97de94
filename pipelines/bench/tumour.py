"""Benchmark suite 3: tumour growth under the Causal Transformer protocol, every model run here.

    python -m pipelines.bench.tumour                                  # gamma 0..4, seeds 10 101 1010
    python -m pipelines.bench.tumour --gammas 4 --seeds 10 --steps 500 --models persistence,ridge,tsloop_whatif
    python -m pipelines.bench.tumour --report-only                    # rewrite RESULTS_tumour.md from the JSON
    python -m pipelines.bench.tumour --gammas 4 --seeds 10 --ct-compatible   # the CT code's cohorts and test sets

Per gamma x seed: one reduced benchmark (`make_benchmark`, sizes below), the three reference
predictors (persistence, pooled least-squares growth fit, noise-free true model), ridge and tsloop
on the same cohorts. `tsloop_whatif` is the model a user gets for a task with interventions
(`ModelConfig.for_task`: G-computation, policy head, one day per step) trained for `--steps`
optimizer steps; `tsloop_plain` the bare small preset (open loop, one 8-day patch) on the same
budget; `tsloop` and the other variants are the first runs, under a wall-clock cap (`--time-cap`).
Scores: RMSE % of the death volume one-step and tau = 2..6 per plan family, and plan ranking by
predicted final volume V[t+6]. Results merge into pipelines/bench/results/tumour.json
(key model/g<gamma>/s<seed>); every run is logged to the MLflow experiment `bench` as
tumour/<model>/g<gamma>/s<seed>.

With --ct-compatible every cohort follows the Causal Transformer code (`make_benchmark(mode="ct")`,
tsloop/sim/tumour/ct.py), the test sets the published tables were scored on: results go to
results/tumour_ct.json, MLflow metrics get a `ct_` prefix, saved models go to
outputs/bench/tumour_ct/, and RESULTS_tumour.md is not rewritten. Plan ranking there uses only
the patient-days that kept all 10 plans (the CT code drops rows whose rollout hits NaN).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from pipelines.bench.tumour_data import (
    FAMILIES, MATERIAL_GAP, STEPS, CohortArrays, LogScale, complete_plan_groups, queries, query_cohort,
    ranking_scores, reference_volumes, rmse_scores,
)
from tsloop.output import atomic_path

RESULTS = Path("pipelines/bench/results/tumour.json")
REFERENCES = ("persistence", "growth_ls", "true_model")
DEFAULT_MODELS = "persistence,growth_ls,true_model,ridge,tsloop_whatif"
# tsloop variants: model-config and training overrides, and the budget. The first runs (tsloop,
# tsloop_budget, tsloop_p1, tsloop_onestep) trained under a wall-clock cap (--time-cap, or their
# own); the step-budget ones (--steps) train the same model on any machine.
TSLOOP_VARIANTS = {
    # the default: the model ModelConfig.for_task builds for a task with interventions (G-computation,
    # policy head, patch 1), trained as `tsloop train` trains it, for --steps optimizer steps
    "tsloop_whatif": {"whatif": True, "budget": "steps"},
    # the same, with the window's level as input (instance_norm off: z is already the cohort's scale)
    "tsloop_whatif_level": {"whatif": True, "budget": "steps", "model": {"instance_norm": False}},
    # the same, with each window's level (the context mean and log std that instance_norm takes out) in every drive
    "tsloop_whatif_levelin": {"whatif": True, "budget": "steps", "model": {"level_input": True}},
    # the learning curve: the default on twice the step budget
    "tsloop_whatif_2x": {"whatif": True, "budget": "steps", "steps_factor": 2},
    # the ablation "no correction": the bare small preset (one 8-day patch, open loop), same budget
    "tsloop_plain": {"budget": "steps"},
    "tsloop": {},  # the small preset as it is, the bench suites' training settings (time cap)
    # the cheap fix: 2x the training time, validation on 40 batches (2,560 windows) instead of all
    "tsloop_budget": {"train": {"limit_val_batches": 40}, "time_cap_s": 240.0},
    "tsloop_p1": {"model": {"patch_len": 1}},  # one outer step per day: each day's treatment its own step
    "tsloop_onestep": {"model": {"one_step_weight": 1.0}},
}


def evaluate(volumes_of, bench) -> tuple[dict, float]:
    """Scores of a model given `volumes_of(query_name, query) -> (R, STEPS)`, and its predict seconds."""
    out, predict_s = {"ranking": {}}, 0.0
    for name, q in queries(bench).items():
        start = time.perf_counter()
        pred = volumes_of(name, q)
        predict_s += time.perf_counter() - start
        rmse = rmse_scores(pred, q)
        out[name] = float(rmse[0]) if name == "one_step" else [float(v) for v in rmse]
        if name in FAMILIES:
            keep = complete_plan_groups(q.patient, q.origin)  # all rows, except in the CT-compatible sets
            out["ranking"][name] = ranking_scores(pred[keep, STEPS - 1], q.target[keep, -1])
    return out, predict_s


def run_one(gamma: float, seed: int, models: list[str], args, prior: dict | None = None) -> dict[str, dict]:
    """Every requested model on one (gamma, seed) benchmark; returns {key: result}.

    With `prior` (the main results), this is a re-scoring on `--rescore-test` test patients: tsloop
    is loaded from its saved model instead of trained, and scores go to the prior MLflow runs.
    """
    from tsloop.sim.tumour import make_benchmark
    from tsloop.sim.tumour.reference import growth_ls, persistence, true_model

    n_test = args.rescore_test if prior is not None else args.test
    ct = getattr(args, "ct_compatible", False)
    bench = make_benchmark(gamma, seed, n_train=args.train, n_val=args.val, n_test=n_test, mode="ct" if ct else "default")
    suite = "tumour_ct" if ct else "tumour"
    scale = LogScale.fit(bench.train)
    arrays = {name: CohortArrays.of(getattr(bench, name), scale)
              for name in ("train", "val", "test_one_step", "test_multi_step")}
    test_arrays = lambda name: arrays["test_one_step" if name == "one_step" else "test_multi_step"]  # noqa: E731
    results = {}
    for model in models:
        start = time.perf_counter()
        info: dict = {"fit_s": 0.0}
        if model in REFERENCES:
            fn = {"persistence": persistence, "true_model": true_model}.get(model) or growth_ls(bench.train)
            info["fit_s"] = time.perf_counter() - start
            scores, predict_s = evaluate(lambda n, q: reference_volumes(fn, query_cohort(bench, n), q), bench)
        elif model == "ridge":
            from pipelines.bench.tumour_models import Ridge

            ridge = Ridge.fit(arrays["train"], arrays["val"])
            info.update(fit_s=ridge.fit_s, params=int(ridge.coef.size), hparams={"alpha (val MSE)": ridge.alpha, "grid": "1e-3..1e3",
                        "target": "z[t+k] - z[t], z = standardised log volume"})
            scores, predict_s = evaluate(lambda n, q: ridge.volumes(test_arrays(n), scale, q), bench)
        elif model in TSLOOP_VARIANTS:
            from pipelines.bench.tumour_models import TumourWindowsTask, fit_tsloop, tsloop_volumes

            if prior is not None:
                from pipelines.bench.tumour_models import load_tsloop

                fitted = load_tsloop(Path(f"outputs/bench/tumour/{model}_g{gamma:g}_s{seed}/model.pt"))
                scores, predict_s = evaluate(lambda n, q: tsloop_volumes(fitted, test_arrays(n), scale, q), bench)
                results[f"{model}/g{gamma:g}/s{seed}"] = _record(model, gamma, seed, scores, info, predict_s, start, args,
                                                                 prior)
                continue
            task = TumourWindowsTask(gamma, seed, arrays["train"], arrays["val"], scale)
            variant = TSLOOP_VARIANTS[model]
            budget = ({"steps": args.steps * variant.get("steps_factor", 1)} if variant.get("budget") == "steps" else
                      {"time_cap_s": variant.get("time_cap_s", args.time_cap)})
            fitted = fit_tsloop(task, preset=args.preset, **budget, whatif=variant.get("whatif", False), seed=0,
                                run_name=f"{suite}/{model}/g{gamma:g}/s{seed}",
                                out_dir=Path(f"outputs/bench/{suite}/{model}_g{gamma:g}_s{seed}"),
                                overrides=variant.get("model"), train=variant.get("train"))
            info.update(fit_s=fitted.fit_s, best_s=fitted.best_s, params=fitted.params, hparams=fitted.hparams,
                        run_id=fitted.run_id)
            scores, predict_s = evaluate(lambda n, q: tsloop_volumes(fitted.model, test_arrays(n), scale, q), bench)
        else:
            raise SystemExit(f"unknown model {model!r}; choose from {REFERENCES + ('ridge',) + tuple(TSLOOP_VARIANTS)}")
        results[f"{model}/g{gamma:g}/s{seed}"] = _record(model, gamma, seed, scores, info, predict_s, start, args, prior)
    return results


def _record(model, gamma, seed, scores, info, predict_s, start, args, prior) -> dict:
    key = f"{model}/g{gamma:g}/s{seed}"
    n_test = args.rescore_test if prior is not None else args.test
    result = {"model": model, "gamma": gamma, "seed": seed, **scores, **info, "predict_s": predict_s,
              "wall_s": time.perf_counter() - start, "sizes": [args.train, args.val, n_test],
              "time_cap_s": _time_cap(model, args)}
    if prior is not None:  # keep the training facts of the main run; log next to its scores
        old = prior[key]
        result.update({k: old.get(k) for k in ("fit_s", "best_s", "params", "hparams", "time_cap_s") if k in old})
        result["run_id"] = old.get("run_id")
        log_mlflow(key, result, args, prefix=f"test{n_test}_")
    else:
        result["run_id"] = log_mlflow(key, result, args, prefix="ct_" if getattr(args, "ct_compatible", False) else "")
    print(f"{key}: one-step {scores['one_step']:.3f} | sliding tau2..6 "
          f"{' '.join(f'{v:.3f}' for v in scores['sliding_treatment'])} | random "
          f"{' '.join(f'{v:.3f}' for v in scores['random_trajectories'])} | {result['wall_s']:.0f} s", flush=True)
    return result


def _time_cap(model: str, args) -> float | None:
    """The wall-clock cap a tsloop variant trained under (None: a step budget, or not tsloop)."""
    variant = TSLOOP_VARIANTS.get(model)
    if variant is None or variant.get("budget") == "steps":
        return None
    return variant.get("time_cap_s", args.time_cap)


def log_mlflow(key: str, result: dict, args, prefix: str = "") -> str | None:
    """Scores into the MLflow run `tumour/<key>` of experiment `bench` (tsloop's own training run if it has one)."""
    from tsloop.tracking.record import log_result

    params = None
    if result.get("run_id") is None:
        params = {"model": result["model"], "gamma": result["gamma"], "seed": result["seed"], "n_train": args.train,
                  "n_val": args.val, "n_test": args.test, **{f"hp.{k}": v for k, v in result.get("hparams", {}).items()}}
        params = {k: str(v)[:500] for k, v in params.items()}
    metrics = {"one_step_rmse_pct": result["one_step"], "fit_s": result["fit_s"], "predict_s": result["predict_s"]}
    for family in FAMILIES:
        short = family.split("_")[0]
        metrics.update({f"{short}_tau{t}_rmse_pct": v for t, v in zip(range(2, 7), result[family])})
        metrics.update({f"{short}_{k}": v for k, v in result["ranking"][family].items()})
    return log_result("bench", f"tumour/{key}", tags={"bench": "tumour"}, params=params,
                      metrics={prefix + k: v for k, v in metrics.items()}, run_id=result.get("run_id"))


def save(results: dict, args, command: str, path: Path = RESULTS) -> dict:
    """Merge into the results JSON (atomic write)."""
    data = json.loads(path.read_text()) if path.is_file() else {"runs": {}, "commands": []}
    data["runs"].update(results)
    if command not in data["commands"]:
        data["commands"].append(command)
    data["config"] = {"n_train": args.train, "n_val": args.val, "n_test": args.rescore_test or args.test, "preset": args.preset,
                      "time_cap_s": args.time_cap, "steps": getattr(args, "steps", None), "material_gap_cm3": MATERIAL_GAP,
                      "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))
    return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gammas", default="0,1,2,3,4")
    parser.add_argument("--seeds", default="10,101,1010")
    parser.add_argument("--models", default=None,
                        help="comma-separated (default: persistence,growth_ls,true_model,ridge,tsloop_whatif; "
                             "with --rescore-test, every saved model)")
    parser.add_argument("--steps", type=int, default=2000,
                        help="optimizer-step budget of the step-budget tsloop variants (tsloop_whatif, tsloop_plain)")
    parser.add_argument("--time-cap", type=float, default=120.0,
                        help="wall-clock cap, s, of the first runs' variants (tsloop, tsloop_p1, ...); kept to reproduce them")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--train", type=int, default=1000, help="train patients (protocol: 10,000)")
    parser.add_argument("--val", type=int, default=200, help="validation patients (protocol: 1,000)")
    parser.add_argument("--test", type=int, default=200, help="patients per test cohort (protocol: 1,000)")
    parser.add_argument("--rescore-test", type=int, default=0,
                        help="re-score the saved models of results/tumour.json (those of --models, --gammas, --seeds) "
                             "on this many test patients (no training)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--ct-compatible", action="store_true",
                        help="cohorts and test sets as the Causal Transformer code makes them (results/tumour_ct.json)")
    args = parser.parse_args(argv)
    if args.ct_compatible and (args.rescore_test or args.report_only):
        raise SystemExit("--ct-compatible trains and scores its own runs; it does not combine with --rescore-test or --report-only")
    torch.set_num_threads(1)
    command = "python -m pipelines.bench.tumour " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.rescore_test and not args.report_only:
        prior = json.loads(RESULTS.read_text())["runs"]
        wanted = set(args.models.split(",")) if args.models else None
        gammas = {float(g) for g in args.gammas.split(",")}
        seeds = {int(s) for s in args.seeds.split(",")} if args.seeds else None
        for gamma, seed in sorted({(r["gamma"], r["seed"]) for r in prior.values()}):
            if gamma not in gammas or (seeds is not None and seed not in seeds):
                continue
            models = [r["model"] for r in prior.values() if (r["gamma"], r["seed"]) == (gamma, seed)
                      and (wanted is None or r["model"] in wanted)]
            save(run_one(gamma, seed, models, args, prior), args, command.strip(), rescored(args.rescore_test))
    elif not args.report_only:
        for gamma in [float(g) for g in args.gammas.split(",")]:
            for seed in [int(s) for s in args.seeds.split(",")]:
                save(run_one(gamma, seed, (args.models or DEFAULT_MODELS).split(","), args), args, command.strip(),
                     RESULTS.with_name("tumour_ct.json") if args.ct_compatible else RESULTS)
    if args.ct_compatible:
        return
    from pipelines.bench.tumour_report import write_report

    extra = sorted(RESULTS.parent.glob("tumour_test*.json"))
    write_report(json.loads(RESULTS.read_text()), [json.loads(p.read_text()) for p in extra])


def rescored(n_test: int) -> Path:
    return RESULTS.with_name(f"tumour_test{n_test}.json")


if __name__ == "__main__":
    main()
