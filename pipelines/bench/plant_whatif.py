"""Benchmark suite 4 — plant what-if (issue #13): tsloop, its what-if ablations, a GRU world model and
ridge against the simulator's exact counterfactuals and its oracle, at operator confounding 0, 0.5
and 1, on three plan pairs (``plant_whatif_pairs.PAIRS``).

    python -m pipelines.bench.plant_whatif --publish                    # the full suite, fills RESULTS_plant_whatif.md
    python -m pipelines.bench.plant_whatif --seeds 0 --confounding 0 --models ridge,oracle \\
        --forecast-origins 2 --whatif-origins 2 --oracle-paths 32 --out outputs/bench/plant_whatif_smoke
    python -m pipelines.bench.plant_whatif --aggregate-only             # tables from the saved runs

Per confounding level and seed: the demo's scenario (``make_scenario(4, 42, 15, seed, confounding)``),
its ground truth (``scenario_truth``), then per model of ``--models`` one training on a budget of
``--steps`` optimizer steps (default the demo's DEMO_STEPS; early stopping on validation may end it
sooner) and its answers through ``Forecaster.forecast`` / ``whatif``, scored per pair: ranking vs the
oracle's expected effect (all and material pairs), counterfactual CRPS ÷ oracle, P(better) Brier vs
the oracle's P, 90 % effect-interval coverage of the oracle's effect, and — when the what-if reports
``Effect.flag`` — the share of pairs flagged and the same scores on supported pairs only.
Per-run JSON ``<out>/<model>_c<confounding>_s<seed>.json`` (reused unless ``--force``); MLflow
experiment ``bench``, runs ``plant_whatif/<model>/c<confounding>/s<seed>``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from pipelines.bench import plant_whatif_report as report
from pipelines.bench.plant_whatif_models import DEFAULT_MODELS, MODELS, REFERENCES, runnable, saved_model, train_model
from pipelines.bench.plant_whatif_pairs import PAIRS, PairTruth, Truth, scenario_truth
from tsloop import metrics
from tsloop.demo.evaluate import evaluate_forecasts, frames_at
from tsloop.demo.run import DEMO_STEPS
from tsloop.demo.scenario import make_scenario, plan_frame
from tsloop.errors import SpecError
from tsloop.metrics import brier, reliability
from tsloop.output import atomic_path
from tsloop.query.results import NUM_SAMPLES

OUT = Path("outputs/bench/plant_whatif")
RESULTS = Path(__file__).parent / "results" / "plant_whatif.json"
EVENT_EDGES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 1.0)  # reliability bins; events are rare
SEASON = 96  # one day at 15 min (seasonal naive)
INTERVAL = 0.9  # the effect interval scored for coverage
FLAGS = ("supported", "weak", "unsupported")


# ------------------------------------------------------------------ answers and their scores, per pair
def answer_pair(forecaster, scenario, truth: Truth, name: str, num_samples: int = NUM_SAMPLES) -> dict:
    """The model's answers to one pair at the what-if origins: effect, its 90 % interval, P(b better)
    and flag (O, S) each; per plan the CRPS of the objective channel (O, S), event_prob (O, S, H, Ce)
    and, from a model with a policy head, the per-step tail probabilities of its controls under the
    learned logging policy (O, S, H, Ci; ``ForecastResult.control_support``), so that any rule of
    combining them into a support score can be compared on the same answers."""
    pair, t = PAIRS[name], truth.pairs[name]
    H, c = scenario.spec.horizon, list(scenario.spec.target).index(pair.channel)
    out = {k: [] for k in ("effect", "lower", "upper", "p_better", "p_better_model", "flag")}
    crps, events, support, reported = {}, {}, {}, False
    for i, t0 in enumerate(truth.whatif_origins):
        history, future = frames_at(scenario, t0)
        plans = pair.plans(scenario, t0, H)
        answer = forecaster.whatif(history, {n: plan_frame(scenario, future, p) for n, p in plans.items()},
                                   objective=f"mean:{pair.channel}", num_samples=num_samples, seed=i, interval=INTERVAL)
        effects = [answer.effects[sid][0] for sid in answer.forecasts[t.plans[0]].series_ids]  # b − a per series
        for key, attr in (("effect", "mean"), ("lower", "lower"), ("upper", "upper"), ("p_better", "prob_b_better"),
                          ("p_better_model", "prob_b_better_model")):
            out[key].append([getattr(e, attr) for e in effects])
        out["flag"].append([getattr(e, "flag", "supported") for e in effects])  # Effect.flag may not exist yet
        reported |= any(hasattr(e, "flag") for e in effects)
        for n in plans:
            f = answer.forecasts[n]
            crps.setdefault(n, []).append(metrics.crps_ensemble(t.realized_paths[n][i], f.samples[..., c]).mean(-1))
            events.setdefault(n, []).append(f.event_prob)
            if f.control_support is not None:
                support.setdefault(n, []).append(f.control_support)
    arr = lambda d: {k: np.asarray(v) for k, v in d.items()}  # noqa: E731
    return {**arr(out), "crps": arr(crps), "event_prob": arr(events), "control_support": arr(support),
            "flags_reported": reported}


def oracle_answers(t: PairTruth) -> dict:
    """The oracle's own answers, in ``answer_pair``'s form."""
    return {"effect": t.oracle_effect, "lower": t.oracle_lower, "upper": t.oracle_upper,
            "p_better": t.oracle_p_better, "crps": t.oracle_crps, "flags_reported": False}


def pair_metrics(ans: dict, t: PairTruth) -> dict:
    """Scores of one model on one pair; with flags reported, also the share of each flag and the
    scores on the pairs flagged supported."""
    n = t.oracle_effect.size
    scores = subset_metrics(ans, t, np.ones(n, bool))
    if ans.get("flags_reported"):
        flag = np.asarray(ans["flag"]).ravel()
        scores["flags"] = {f"share_{f}": float(np.mean(flag == f)) for f in FLAGS}
        scores["supported"] = subset_metrics(ans, t, flag == "supported")
    return scores


def subset_metrics(ans: dict, t: PairTruth, keep: np.ndarray) -> dict:
    """Scores over the pairs ``keep`` (O * S,) selects; NaN where it selects none."""
    r = lambda a: np.asarray(a, float).ravel()[keep]  # noqa: E731
    effect, oracle, p = r(ans["effect"]), r(t.oracle_effect), r(ans["p_better"])
    material, realized = r(t.material).astype(bool), r(t.realized_effect)
    agree = np.sign(effect) == np.sign(oracle)  # exact ties (identical plans) count only if the model says 0 too
    mean = lambda x: float(np.mean(x)) if np.size(x) else float("nan")  # noqa: E731
    out = {"pairs": int(keep.sum()), "material_pairs": int(material.sum()), "ranking": mean(agree),
           "ranking_material": mean(agree[material]), "rank_realized": mean(np.sign(effect) == np.sign(realized)),
           "effect_mae": mean(np.abs(effect - oracle)), "p_better_brier": brier(p, r(t.oracle_p_better)) if keep.any()
           else float("nan")}
    if keep.any():  # realized outcome: b wins, ties half (the rule of the oracle's and the model's P)
        out["p_better_vs_realized"] = reliability(p, (realized < 0) + 0.5 * (realized == 0))
    if ans.get("lower") is not None:
        out["coverage90"] = mean((r(ans["lower"]) <= oracle) & (oracle <= r(ans["upper"])))
    if ans.get("crps") is not None and keep.any():
        model = np.concatenate([r(ans["crps"][n]) for n in t.plans])
        out["cf_crps_ratio"] = float(model.mean() / np.concatenate([r(t.oracle_crps[n]) for n in t.plans]).mean())
    return out


# ------------------------------------------------------------------ one model on one scenario
class Recorder:
    """Passes forecasts through and keeps them (their event probabilities are scored)."""

    def __init__(self, inner):
        self.inner, self.forecasts = inner, []

    def forecast(self, *args, **kwargs):
        self.forecasts.append(self.inner.forecast(*args, **kwargs))
        return self.forecasts[-1]


def score(forecaster, scenario, truth: Truth, num_samples: int = NUM_SAMPLES,
          answers_to: Path | None = None) -> dict:
    """Forecast CRPS, every pair's scores, event calibration and what-if latency of one model; with
    ``answers_to``, every pair's raw answers also go to that ``.npz`` (``save_answers``)."""
    rec = Recorder(forecaster)
    forecasts = evaluate_forecasts(rec, scenario, truth.forecast_origins, SEASON, num_samples=num_samples)
    answers = {name: answer_pair(forecaster, scenario, truth, name, num_samples) for name in PAIRS}
    if answers_to is not None:
        save_answers(answers, answers_to)
    demo = truth.pairs["demo"]
    t0 = truth.whatif_origins[0]
    history, future = frames_at(scenario, t0)
    plans = PAIRS["demo"].plans(scenario, t0, scenario.spec.horizon)
    plans = {n: plan_frame(scenario, future, p) for n, p in plans.items()}
    times = []
    for _ in range(3):
        start = time.perf_counter()
        forecaster.whatif(history, plans, objective=f"mean:{PAIRS['demo'].channel}", num_samples=100, seed=0)
        times.append(time.perf_counter() - start)
    return {
        "forecast_crps_over_oracle": float(forecasts["tsloop_over_oracle"].mean()),
        "forecast_crps_over_naive": float(forecasts["tsloop_over_naive"].mean()),
        "event_factual": reliability(np.stack([f.event_prob for f in rec.forecasts]), truth.events_factual,
                                     EVENT_EDGES),
        "event_whatif": reliability(np.concatenate([answers["demo"]["event_prob"][n] for n in demo.plans]),
                                    np.concatenate([demo.realized_events[n] for n in demo.plans]), EVENT_EDGES),
        "whatif_latency_ms": 1000 * min(times),
        "pairs": {name: pair_metrics(answers[name], truth.pairs[name]) for name in PAIRS},
    }


def save_answers(answers: dict, path: Path) -> None:
    """Every pair's answers (``answer_pair``) as arrays in one ``.npz``, keys ``<pair>/<field>`` and
    ``<pair>/<field>/<plan>``, written atomically."""
    flat = {}
    for pair, ans in answers.items():
        for field, value in ans.items():
            if isinstance(value, dict):
                flat.update({f"{pair}/{field}/{plan}": np.asarray(v) for plan, v in value.items()})
            else:
                flat[f"{pair}/{field}"] = np.asarray(value)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **flat)


def score_reference(name: str, truth: Truth) -> dict:
    """The oracle (its own answers: the limits) or the constant (per pair the better of "b is better,
    P = 1" and "a is better, P = 0", chosen against the oracle: the floor a what-if model must beat)."""
    if name == "oracle":
        demo = truth.pairs["demo"]
        return {
            "forecast_crps_over_oracle": 1.0,
            "event_factual": reliability(truth.oracle_event_factual, truth.events_factual, EVENT_EDGES),
            "event_whatif": reliability(np.concatenate([demo.oracle_events[n] for n in demo.plans]),
                                        np.concatenate([demo.realized_events[n] for n in demo.plans]), EVENT_EDGES),
            "whatif_latency_ms": truth.oracle_latency_ms,
            "pairs": {p: pair_metrics(oracle_answers(t), t) for p, t in truth.pairs.items()},
        }
    pairs = {}
    for p, t in truth.pairs.items():
        options = []
        for sign in (-1.0, 1.0):  # −1: b is better (P(b better) = 1); +1: a is better
            constant = {"effect": np.full(t.oracle_effect.shape, sign), "p_better": np.full(t.oracle_effect.shape, sign < 0)}
            options.append({**pair_metrics(constant, t), "answer": f"{t.plans[1] if sign < 0 else t.plans[0]} better"})
        pairs[p] = max(options, key=lambda s: np.nan_to_num(s["ranking_material"], nan=s["ranking"]))
    return {"pairs": pairs}


def log_run(name: str, record: dict, run_id: str | None) -> None:
    from tsloop.tracking.record import log_result

    tags = {"bench": "plant_whatif", "model": name, "confounding": f"{record['confounding']:g}",
            "seed": str(record["seed"])}
    params = None if run_id else {f"budget/{k}": v for k, v in (record.get("budget") or {}).items()
                                  if isinstance(v, (int, float, str))}
    log_result("bench", f"plant_whatif/{name}/c{record['confounding']:g}/s{record['seed']}", params=params,
               run_id=run_id, tags=None if run_id else tags,
               metrics={f"plant_whatif/{k}": v for k, v in flat_metrics(record["scores"]).items()})


def flat_metrics(scores: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in scores.items():
        if isinstance(v, dict):
            out.update(flat_metrics(v, f"{prefix}{k}/"))
        elif isinstance(v, (int, float)) and np.isfinite(v):
            out[f"{prefix}{k}"] = float(v)
    return out


def run_scenario(confounding: float, seed: int, models: list[str], args) -> None:
    """Ground truth of one (confounding, seed) scenario, then each model of ``models`` not yet recorded."""
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    done = {m for m in models if (out / f"{report.run_key(m, confounding, seed)}.json").is_file()}
    todo = [m for m in models if args.force or args.rescore or m not in done]
    if not todo:
        return
    from tsloop.data.task import load_task

    start = time.perf_counter()
    scenario = make_scenario(4, 42, 15, seed, confounding=confounding)
    task = load_task(scenario.spec, frame=scenario.frame)
    truth = scenario_truth(scenario, args.forecast_origins, args.whatif_origins, args.oracle_paths)
    print(f"c={confounding:g} s{seed}: scenario and ground truth in {time.perf_counter() - start:.0f} s", flush=True)
    for name in todo:
        key = report.run_key(name, confounding, seed)
        start, saved, run_id, budget = time.perf_counter(), None, None, None
        if name in REFERENCES:
            scores = score_reference(name, truth)
        else:
            saved = saved_model(name, out / key, out / f"{key}.json", task) if args.rescore else None
            try:
                forecaster, budget, run_id = saved or train_model(name, task, seed, args.steps, out / key,
                                                                  f"plant_whatif/{name}/c{confounding:g}/s{seed}")
            except SpecError as err:  # e.g. an override value this tsloop rejects
                print(f"skipping {name} at c={confounding:g} s{seed}: {err}", flush=True)
                continue
            t_eval = time.perf_counter()
            scores = score(forecaster, scenario, truth, args.samples, answers_to=out / f"{key}_answers.npz")
            budget = {**budget, "eval_s": time.perf_counter() - t_eval}
        record = {"model": name, "confounding": confounding, "seed": seed, "budget": budget, "scores": scores,
                  "run_id": run_id, "rescored": bool(saved), "wall_s": time.perf_counter() - start,
                  "steps_budget": args.steps, "forecast_origins": len(truth.forecast_origins),
                  "whatif_origins": len(truth.whatif_origins), "oracle_paths": args.oracle_paths,
                  "samples": args.samples}
        with atomic_path(out / f"{key}.json") as tmp:
            tmp.write_text(json.dumps(record, indent=1, default=float))
        if not args.no_mlflow:
            log_run(name, record, run_id)
        steps = f"{budget['steps']} steps in {budget['train_s']:.0f} s, " if budget and "steps" in budget else ""
        cells = "  ".join(f"{p}: rank {s['ranking_material']:.3f} cover {s.get('coverage90', float('nan')):.3f}"
                          for p, s in scores["pairs"].items())
        print(f"{key}: {steps}{record['wall_s']:.0f} s in all  {cells}", flush=True)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with ``seeds`` (ints), ``levels`` (confounding floats) and ``models`` as lists."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--confounding", default="0,0.5,1", help="operator confounding levels, comma-separated")
    parser.add_argument("--steps", type=int, default=DEMO_STEPS, help="optimizer steps per trained model")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"from {list(MODELS)}")
    parser.add_argument("--forecast-origins", type=int, default=24)
    parser.add_argument("--whatif-origins", type=int, default=48, help="origins per pair (× 4 clusters = pairs)")
    parser.add_argument("--oracle-paths", type=int, default=256, help="oracle paths per origin")
    parser.add_argument("--samples", type=int, default=NUM_SAMPLES, help="model sample paths per query")
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the per-run JSON and models")
    parser.add_argument("--force", action="store_true", help="re-run models whose per-run JSON exists")
    parser.add_argument("--rescore", action="store_true",
                        help="score again: saved tsloop bundles of this suite are reused, not retrained")
    parser.add_argument("--aggregate-only", action="store_true")
    parser.add_argument("--publish", action="store_true",
                        help="write the summary to pipelines/bench/results/plant_whatif.json and the tables into "
                             "RESULTS_plant_whatif.md")
    parser.add_argument("--no-mlflow", action="store_true", help="do not record runs in MLflow")
    args = parser.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.levels = [float(c) for c in args.confounding.split(",")]
    args.models = args.models.split(",")
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    torch.set_num_threads(1)
    models = runnable(args.models)
    if not args.aggregate_only:
        for confounding in args.levels:
            for seed in args.seeds:
                run_scenario(confounding, seed, models, args)
    summary = report.summarize(report.load_records(args.out, models, args.levels, args.seeds))
    text = report.markdown(summary, {p: spec.title for p, spec in PAIRS.items()})
    target = RESULTS if args.publish else args.out / "summary.json"
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=float))
    if args.publish:
        report.publish(text)
    print(text)


if __name__ == "__main__":
    main()
