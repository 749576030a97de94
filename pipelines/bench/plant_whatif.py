"""Benchmark suite 4 — plant what-if: tsloop, its ablations, a GRU world model and ridge against
the simulator's exact counterfactuals and its oracle (issue #7).

    python -m pipelines.bench.plant_whatif                              # seeds 0,1,2, every model
    python -m pipelines.bench.plant_whatif --seeds 0 --time-cap 150 --models gru,ridge,oracle
    python -m pipelines.bench.plant_whatif --aggregate-only             # table from saved runs

Per seed: the demo's scenario (4 clusters, 42 days at 15 min, operator confounding 1.0; the seed
draws the fleet and its noise) and one model per entry of ``MODELS``, each trained with the same
budget (early stopping on validation, the same wall-clock cap, train/val stride 2), then scored
by ``tsloop.demo.evaluate`` through ``Forecaster.forecast`` / ``whatif``, exactly as the demo:
forecast CRPS ÷ oracle at the forecast origins, counterfactual CRPS ÷ oracle and hold-vs-scale-out
ranking at the what-if origins. Added here: P(better) scored against the realized counterfactual
outcome (Brier, reliability), event-probability calibration (factual and under both plans) and
what-if latency. Per-run JSON: ``outputs/bench/plant_whatif/<model>_s<seed>.json`` (reused unless
``--force``); summary: ``pipelines/bench/results/plant_whatif.json``; MLflow experiment ``bench``,
runs ``plant_whatif/<model>/s<seed>``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tsloop.demo.evaluate import OBJECTIVE_CHANNEL, frames_at, evaluate_forecasts, evaluate_whatif, origins_in_test_part
from tsloop.demo.run import WHATIF_OPTIONS
from tsloop.demo.scenario import demo_plans, logged_plan, make_scenario, plan_frame
from tsloop import metrics
from tsloop.metrics import brier, reliability, sign_agreement
from tsloop.query.results import NUM_SAMPLES
from tsloop.sim.plant.config import CONTROL_BOUNDS
from tsloop.sim.plant.oracle import states_at
from tsloop.sim.plant.policy import Plan

OUT = Path("outputs/bench/plant_whatif")
RESULTS = Path(__file__).parent / "results" / "plant_whatif.json"
MODELS = {  # name -> tsloop ModelConfig overrides on top of the demo's (small preset + WHATIF_OPTIONS)
    "tsloop": {},
    "tsloop_stepwise": {"deferred": False},
    "tsloop_noloop": {"looped": False},
    "tsloop_unconstrained": {"constrained": False},
    "gru": None,
    "ridge": None,
    "oracle": None,
    "always_scale_out": None,  # the constant answer: scale out is better, P(better) = 1
}
EVENT_EDGES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 1.0)  # reliability bins; events are rare
SEASON = 96  # one day at 15 min (seasonal naive)


# ------------------------------------------------------------------ a second, harder plan pair
def trade_off_plans(scenario, t0: int, horizon: int) -> dict[str, Plan]:
    """Two remedies whose ranking depends on the state: add two replicas (rate limit as logged), or
    keep the replicas and cap admissions at 85 % of the last observed request rate. Scaling out
    by four beats holding at every origin of the demo pair (or ties at the replica cap), so that
    pair only tests the sign of one effect; here the better plan changes with load and backlog."""
    controls = scenario.logged.controls
    current = controls["replicas"][:, t0 - 1 : t0]  # (S, 1)
    setpoint = controls["cooling_setpoint"][:, t0 - 1 : t0]
    limit = np.clip(0.85 * scenario.logged.exog.demand[:, t0 - 1 : t0], *CONTROL_BOUNDS["rate_limit"])
    ones = np.ones((1, horizon))
    return {
        "scale_out_2": Plan(replicas=np.minimum(current + 2, CONTROL_BOUNDS["replicas"][1]) * ones,
                            cooling_setpoint=setpoint * ones, rate_limit=controls["rate_limit"][:, t0 : t0 + horizon]),
        "throttle": Plan(replicas=current * ones, cooling_setpoint=setpoint * ones, rate_limit=limit * ones),
    }


# ------------------------------------------------------------------ the scenario's ground truth (per seed)
@dataclass
class Truth:
    """What the simulator knows at the benchmark's origins: realized outcomes under each plan and
    the oracle's probabilities, computed once per scenario and shared by every model."""

    forecast_origins: list[int]
    whatif_origins: list[int]
    events_factual: np.ndarray  # (O, S, H, Ce) logged events at the forecast origins
    oracle_event_factual: np.ndarray  # (O, S, H, Ce) oracle P(event) under the logged plan
    realized: dict  # plan -> (O, S) realized mean objective
    realized_events: dict  # plan -> (O, S, H, Ce)
    oracle_p_better: np.ndarray  # (O, S) oracle P(scale_out better)
    oracle_effect: np.ndarray  # (O, S) oracle expected effect, scale_out - hold
    oracle_event_whatif: dict  # plan -> (O, S, H, Ce)
    oracle_latency_ms: float
    trade_off: dict  # the second pair: realized (plan -> (O, S)), oracle_effect, oracle_p_better (O, S), oracle_crps


def scenario_truth(scenario, n_forecast: int, n_whatif: int, paths: int = 256) -> Truth:
    sim, noise, H = scenario.sim, scenario.noise, scenario.spec.horizon
    events = list(scenario.spec.event)
    stack = lambda d: np.stack([d[e] for e in events], axis=-1)  # noqa: E731  {event: (.., H)} -> (.., H, Ce)
    fo, wo = origins_in_test_part(scenario, n_forecast), origins_in_test_part(scenario, n_whatif)
    ev_f, or_f = [], []
    for i, (t0, state) in enumerate(zip(fo, states_at(sim, noise, fo))):
        ev_f.append(np.stack([scenario.logged.events[e][:, t0 : t0 + H] for e in events], -1))
        o = sim.rollout(state, [logged_plan(scenario, t0, H)], noise.exog.temp_forecast[:, t0 : t0 + H], paths, seed=i)[0]
        or_f.append(stack(o.events).mean(0))
    realized, realized_ev, or_w, p_better, effect = {}, {}, {}, [], []
    latency = []
    for i, (t0, state) in enumerate(zip(wo, states_at(sim, noise, wo))):
        plans = demo_plans(scenario, t0, H)
        forecast = noise.exog.temp_forecast[:, t0 : t0 + H]
        o = sim.rollout(state, list(plans.values()), forecast, paths, seed=i)  # the seed evaluate_whatif uses
        obj = {n: s.targets[OBJECTIVE_CHANNEL].mean(-1) for n, s in zip(plans, o)}  # (N, S)
        p_better.append((obj["scale_out"] < obj["hold"]).mean(0))
        effect.append((obj["scale_out"] - obj["hold"]).mean(0))
        for n, s in zip(plans, o):
            run = sim.run(noise, plans[n], start=state, steps=H)
            realized.setdefault(n, []).append(run.targets[OBJECTIVE_CHANNEL].mean(-1))
            realized_ev.setdefault(n, []).append(np.stack([run.events[e] for e in events], -1))
            or_w.setdefault(n, []).append(stack(s.events).mean(0))
        if i < 3:
            start = time.perf_counter()
            sim.rollout(state, list(plans.values()), forecast, 100, seed=i)
            latency.append(time.perf_counter() - start)
    arr = lambda d: {k: np.asarray(v) for k, v in d.items()}  # noqa: E731
    return Truth(fo, wo, np.asarray(ev_f), np.asarray(or_f), arr(realized), arr(realized_ev),
                 np.asarray(p_better), np.asarray(effect), arr(or_w), 1000 * min(latency),
                 trade_off_truth(scenario, wo, paths))


def trade_off_truth(scenario, origins: list[int], paths: int) -> dict:
    """Oracle and realized outcomes of ``trade_off_plans`` at the what-if origins."""
    sim, noise, H = scenario.sim, scenario.noise, scenario.spec.horizon
    realized, paths_real, effect, p_better, crps = {}, {}, [], [], []
    for i, (t0, state) in enumerate(zip(origins, states_at(sim, noise, origins))):
        plans = trade_off_plans(scenario, t0, H)
        o = sim.rollout(state, list(plans.values()), noise.exog.temp_forecast[:, t0 : t0 + H], paths, seed=i)
        obj = {n: s.targets[OBJECTIVE_CHANNEL].mean(-1) for n, s in zip(plans, o)}  # (N, S)
        effect.append((obj["throttle"] - obj["scale_out_2"]).mean(0))
        p_better.append((obj["throttle"] < obj["scale_out_2"]).mean(0))
        for n, s in zip(plans, o):
            run = sim.run(noise, plans[n], start=state, steps=H).targets[OBJECTIVE_CHANNEL]  # (S, H)
            realized.setdefault(n, []).append(run.mean(-1))
            paths_real.setdefault(n, []).append(run)
            crps.append(metrics.crps_samples(s.targets[OBJECTIVE_CHANNEL], run))
    arr = lambda d: {k: np.asarray(v) for k, v in d.items()}  # noqa: E731
    return {"realized": arr(realized), "realized_paths": arr(paths_real), "oracle_effect": np.asarray(effect),
            "oracle_p_better": np.asarray(p_better), "oracle_crps": float(np.mean(crps))}


def score_trade_off(forecaster, scenario, truth: Truth, num_samples: int = NUM_SAMPLES) -> dict:
    """The model's answers to the second pair against the oracle and the realized outcomes."""
    H, c = scenario.spec.horizon, list(scenario.spec.target).index(OBJECTIVE_CHANNEL)
    t, effect, p, crps = truth.trade_off, [], [], []
    for i, t0 in enumerate(truth.whatif_origins):
        history, future = frames_at(scenario, t0)
        plans = trade_off_plans(scenario, t0, H)
        answer = forecaster.whatif(history, {n: plan_frame(scenario, future, pl) for n, pl in plans.items()},
                                   objective=f"mean:{OBJECTIVE_CHANNEL}", num_samples=num_samples, seed=i)
        sids = answer.forecasts["throttle"].series_ids
        effect.append([answer.effects[sid][0].mean for sid in sids])  # throttle - scale_out_2
        p.append([answer.effects[sid][0].prob_b_better for sid in sids])  # P(throttle better)
        crps += [metrics.crps_samples(answer.forecasts[n].samples[..., c], t["realized_paths"][n][i]) for n in plans]
    return {**pair_scores(np.asarray(effect).ravel(), np.asarray(p).ravel(), t),
            "cf_crps_ratio": float(np.mean(crps)) / t["oracle_crps"]}


def pair_scores(effect: np.ndarray, p_better: np.ndarray, t: dict) -> dict:
    """Ranking and P(better) of one plan pair, (O * S,) each, against its truth ``t``."""
    realized_effect = (t["realized"]["throttle"] - t["realized"]["scale_out_2"]).ravel()
    return {
        "ranking_accuracy": sign_agreement(effect, t["oracle_effect"].ravel()),
        "rank_acc_realized": sign_agreement(effect, realized_effect),
        "p_better_brier_vs_oracle": brier(p_better, t["oracle_p_better"].ravel()),
        "p_better_vs_realized": reliability(p_better, realized_effect < 0),
    }



# ------------------------------------------------------------------ models
class Recorder:
    """Passes queries to a forecaster and keeps the answers (event probabilities, P(better))."""

    def __init__(self, inner):
        self.inner, self.forecasts, self.answers = inner, [], []

    def forecast(self, *args, **kwargs):
        self.forecasts.append(self.inner.forecast(*args, **kwargs))
        return self.forecasts[-1]

    def whatif(self, *args, **kwargs):
        self.answers.append(self.inner.whatif(*args, **kwargs))
        return self.answers[-1]


class RidgePeer(nn.Module):
    """Direct multi-output ridge on the window (past targets, exogenous, events, future known inputs
    and the plan's controls); Gaussian quantiles with the validation residual s.d. per (h, c);
    event probability = the clipped linear prediction. A what-if feeds it the plan's controls."""

    def __init__(self, cfg, coef: np.ndarray, intercept: np.ndarray, sigma: np.ndarray):
        super().__init__()
        from scipy.stats import norm

        self.cfg = cfg
        self.register_buffer("coef", torch.tensor(coef, dtype=torch.float32))  # (F, H * (Ct + Ce))
        self.register_buffer("intercept", torch.tensor(intercept, dtype=torch.float32))
        self.register_buffer("sigma", torch.tensor(sigma, dtype=torch.float32))  # (H, Ct)
        self.register_buffer("levels", torch.tensor(cfg.quantiles, dtype=torch.float32))
        self.register_buffer("z", torch.tensor(norm.ppf(cfg.quantiles), dtype=torch.float32))
        self.register_buffer("rho", torch.zeros(cfg.target))

    @staticmethod
    def design(batch: dict) -> torch.Tensor:
        parts = [batch["past_target"], batch["past_exog"][:, -24:], batch["past_event"][:, -24:],
                 batch["past_control"][:, -1:], batch["future_known"], batch["future_control"], batch["static"]]
        return torch.cat([p.reshape(len(p), -1) for p in parts], dim=1)

    def target_rho(self) -> torch.Tensor:
        return self.rho

    def forward(self, batch: dict):
        from pipelines.bench.gru_peer import PeerOutput

        c = self.cfg
        out = (self.design(batch) @ self.coef + self.intercept).view(-1, c.horizon, c.target + c.event)
        q = out[..., : c.target, None] + self.sigma[..., None] * self.z  # (B, H, Ct, Q)
        prob = out[..., c.target :].clamp(1e-3, 1 - 1e-3)
        return PeerOutput(q, prob, torch.logit(prob))


def fit_ridge(task, stride: int = 2):
    from sklearn.linear_model import Ridge

    from pipelines.bench.gru_peer import GRUConfig, fit_copula_rho

    def arrays(part):
        batch = next(iter(torch.utils.data.DataLoader(task.dataset(part, stride=stride), batch_size=10**6)))
        y = torch.cat([batch["future_target"], batch["future_event"]], -1)
        return batch, RidgePeer.design(batch).numpy(), y.reshape(len(y), -1).numpy()

    cfg = GRUConfig.for_task(task.spec)  # the peer output shape (horizon, targets, events, quantile grid)
    (_, xt, yt), (_, xv, yv) = arrays("train"), arrays("val")
    Ct, best = cfg.target, None
    tgt = lambda y: y.reshape(len(y), cfg.horizon, -1)[..., :Ct]  # noqa: E731
    for alpha in (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0):
        m = Ridge(alpha=alpha).fit(xt, yt)
        err = float(np.mean((tgt(m.predict(xv)) - tgt(yv)) ** 2))
        best = min(best or (np.inf,), (err, alpha, m), key=lambda b: b[0])
    _, alpha, m = best
    sigma = (tgt(m.predict(xv)) - tgt(yv)).std(0)
    model = RidgePeer(cfg, m.coef_.T, m.intercept_, sigma)
    loader = torch.utils.data.DataLoader(task.dataset("val", stride=stride), batch_size=64)
    model.rho.copy_(fit_copula_rho(model, loader, 10**6))
    return model.eval(), {"alpha": alpha, "features": int(xt.shape[1]), "train_windows": int(len(xt))}


def train_model(name: str, task, scenario, seed: int, cap: float):
    """(forecaster, budget record, MLflow run id or None) for one model of MODELS."""
    from tsloop.forecaster import Forecaster

    if name == "gru":
        from pipelines.bench.gru_peer import GRUConfig, GRUWorldModel, PeerTrainConfig, train_peer

        torch.manual_seed(seed)
        model = GRUWorldModel(GRUConfig.for_task(task.spec))
        budget = train_peer(model, task, PeerTrainConfig(max_time_s=cap, seed=seed))
        (OUT / f"gru_s{seed}").mkdir(parents=True, exist_ok=True)
        torch.save({"config": asdict(model.cfg), "state_dict": model.state_dict()}, OUT / f"gru_s{seed}" / "model.pt")
        return Forecaster(model, task.spec, task.scaler), {**budget, "params": _params(model)}, None
    if name == "ridge":
        start = time.perf_counter()
        model, info = fit_ridge(task)
        return Forecaster(model, task.spec, task.scaler), {"train_s": time.perf_counter() - start, **info}, None
    from tsloop.model.config import ModelConfig
    from tsloop.train.config import TrainConfig
    from tsloop.tracking.training import fit_and_record

    s = task.spec
    cfg = ModelConfig.preset("small", dims=s.dims, context_length=s.context_length, horizon=s.horizon,
                             **{**dict(WHATIF_OPTIONS), **MODELS[name]})
    train = TrainConfig(max_epochs=30, max_time_s=cap, seed=seed, train_stride=2, val_stride=2, patience=5,
                        progress_bar=False)
    out = OUT / f"{name}_s{seed}"
    result = fit_and_record(task, cfg, train, out_dir=out, experiment="bench", run_name=f"plant_whatif/{name}/s{seed}",
                 tags={"bench": "plant_whatif", "model": name, "seed": str(seed)})
    last = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    per_epoch = len(torch.utils.data.DataLoader(task.dataset("train", stride=2), batch_size=train.batch_size))
    budget = {"train_s": result.wall_time_s, "steps": int(last["global_step"]),
              "epochs": int(last["global_step"]) / per_epoch,
              "best_val_loss": result.metrics.get("val/loss"), "params": _params(torch.load(result.bundle_path,
              map_location="cpu", weights_only=True)), "budget": train.to_dict(), "overrides": MODELS[name]}
    return Forecaster.from_bundle_path(result.bundle_path), budget, result.run_id


def _params(obj) -> int:
    if isinstance(obj, nn.Module):
        return sum(p.numel() for p in obj.parameters())
    state = obj.get("state_dict", {}) if isinstance(obj, dict) else {}
    return int(sum(v.numel() for v in state.values() if torch.is_tensor(v)))


# ------------------------------------------------------------------ one model, one seed
def score(forecaster, scenario, truth: Truth) -> dict:
    """The demo's scores plus realized-outcome P(better), event calibration and latency."""
    rec = Recorder(forecaster)
    forecasts = evaluate_forecasts(rec, scenario, truth.forecast_origins, SEASON)
    table, whatif = evaluate_whatif(rec, scenario, truth.whatif_origins)
    ev_f = np.stack([f.event_prob for f in rec.forecasts])  # (O, S, H, Ce)
    plans = list(truth.realized)
    ev_w = np.concatenate([np.stack([a.forecasts[n].event_prob for a in rec.answers]) for n in plans])
    p = table["p_better_tsloop"].to_numpy()  # rows: origin-major, then series: as truth's (O, S)
    won = (truth.realized["scale_out"] < truth.realized["hold"]).ravel()
    effect = table["effect_tsloop"].to_numpy()
    realized_effect = (truth.realized["scale_out"] - truth.realized["hold"]).ravel()
    t0 = truth.whatif_origins[0]
    history, future = frames_at(scenario, t0)
    plan_frames = {n: plan_frame(scenario, future, pl) for n, pl in demo_plans(scenario, t0, scenario.spec.horizon).items()}
    times = []
    for _ in range(3):
        start = time.perf_counter()
        forecaster.whatif(history, plan_frames, objective=f"mean:{OBJECTIVE_CHANNEL}", num_samples=100, seed=0)
        times.append(time.perf_counter() - start)
    return {
        "forecast_crps_over_oracle": float(forecasts["tsloop_over_oracle"].mean()),
        "forecast_crps_over_naive": float(forecasts["tsloop_over_naive"].mean()),
        "forecast_crps_latency": float(forecasts.set_index("channel").loc[OBJECTIVE_CHANNEL, "crps_tsloop"]),
        "forecast_crps_latency_oracle": float(forecasts.set_index("channel").loc[OBJECTIVE_CHANNEL, "crps_oracle"]),
        **{f"whatif_{k}": v for k, v in whatif.items()},
        "rank_acc_realized": sign_agreement(effect, realized_effect),
        "p_better_vs_realized": reliability(p, won),
        "event_factual": reliability(ev_f, truth.events_factual, EVENT_EDGES),
        "event_whatif": reliability(ev_w, np.concatenate([truth.realized_events[n] for n in plans]), EVENT_EDGES),
        "whatif_latency_ms": 1000 * min(times),
        "trade_off": score_trade_off(forecaster, scenario, truth),
    }


def score_oracle(truth: Truth) -> dict:
    """The limit: the oracle's own P(better) and event probabilities against the realized outcomes."""
    plans = list(truth.realized)
    won = truth.realized["scale_out"] < truth.realized["hold"]
    oracle_effect = np.where(truth.oracle_p_better > 0.5, -1.0, 1.0)  # the oracle picks its likelier winner
    return {
        "rank_acc_realized": sign_agreement(oracle_effect.ravel(),
                                              (truth.realized["scale_out"] - truth.realized["hold"]).ravel()),
        "p_better_vs_realized": reliability(truth.oracle_p_better, won),
        "event_factual": reliability(truth.oracle_event_factual, truth.events_factual, EVENT_EDGES),
        "event_whatif": reliability(np.concatenate([truth.oracle_event_whatif[n] for n in plans]),
                                    np.concatenate([truth.realized_events[n] for n in plans]), EVENT_EDGES),
        "whatif_latency_ms": truth.oracle_latency_ms,
        "trade_off": pair_scores(truth.trade_off["oracle_effect"].ravel(), truth.trade_off["oracle_p_better"].ravel(),
                                 truth.trade_off),
    }


def score_constant(truth: Truth) -> dict:
    """The trivial answer "scale out is better" (P(better) = 1) for every pair: the floor a what-if
    model must beat on ranking, since scaling out wins most pairs."""
    realized_effect = (truth.realized["scale_out"] - truth.realized["hold"]).ravel()
    ones = np.ones(realized_effect.size)
    return {
        "whatif_ranking_accuracy": sign_agreement(-ones, truth.oracle_effect.ravel()),
        "rank_acc_realized": sign_agreement(-ones, realized_effect),
        "whatif_p_better_brier": brier(ones, truth.oracle_p_better.ravel()),
        "p_better_vs_realized": reliability(ones, realized_effect < 0),
        "trade_off": constant_trade_off(truth.trade_off),
    }


def constant_trade_off(t: dict) -> dict:
    """The better of the two constant answers (always throttle / always scale out) on the second pair."""
    n = t["oracle_effect"].size
    best = max((pair_scores(np.full(n, sign), np.full(n, float(sign < 0)), t) for sign in (-1.0, 1.0)),
               key=lambda r: r["ranking_accuracy"])
    return best


def log_run(name: str, seed: int, record: dict, run_id: str | None) -> None:
    from tsloop.tracking.record import log_result

    params = None
    if run_id is None:
        params = {f"budget/{k}": v for k, v in (record.get("budget") or {}).items()
                  if isinstance(v, (int, float, str)) and k != "budget"}
    log_result("bench", f"plant_whatif/{name}/s{seed}", params=params, run_id=run_id,
               tags={"bench": "plant_whatif", "model": name, "seed": str(seed)} if run_id is None else None,
               metrics={f"plant_whatif/{k}": v for k, v in flat_metrics(record["scores"]).items()})


def flat_metrics(scores: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in scores.items():
        if isinstance(v, dict):
            out.update(flat_metrics(v, f"{prefix}{k}/"))
        elif isinstance(v, (int, float)) and np.isfinite(v):
            out[f"{prefix}{k}"] = float(v)
    return out


def saved_tsloop(name: str, seed: int):
    """(forecaster, budget, run id) of a tsloop model this suite already trained, else None."""
    from tsloop.forecaster import Forecaster

    folder, record = OUT / f"{name}_s{seed}", OUT / f"{name}_s{seed}.json"
    if MODELS.get(name) is None or not (folder / "model.pt").is_file() or not record.is_file():
        return None
    run_id = json.loads((folder / "run.json").read_text())["run_id"] if (folder / "run.json").is_file() else None
    return Forecaster.from_bundle_path(folder / "model.pt"), json.loads(record.read_text())["budget"], run_id


def run_seed(seed: int, models: list[str], cap: float, n_forecast: int, n_whatif: int, force: bool,
             rescore: bool = False) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    todo = [m for m in models if force or rescore or not (OUT / f"{m}_s{seed}.json").is_file()]
    if not todo:
        return
    from tsloop.data.task import load_task

    scenario = make_scenario(4, 42, 15, seed)
    task = load_task(scenario.spec, frame=scenario.frame)
    start = time.perf_counter()
    truth = scenario_truth(scenario, n_forecast, n_whatif)
    print(f"seed {seed}: ground truth in {time.perf_counter() - start:.0f} s", flush=True)
    for name in todo:
        start, saved = time.perf_counter(), None
        if name in ("oracle", "always_scale_out"):
            scores = score_oracle(truth) if name == "oracle" else score_constant(truth)
            record = {"model": name, "seed": seed, "budget": None, "scores": scores}
            run_id = None
        else:
            saved = saved_tsloop(name, seed) if rescore else None
            forecaster, budget, run_id = saved or train_model(name, task, scenario, seed, cap)
            t_eval = time.perf_counter()
            record = {"model": name, "seed": seed, "budget": budget, "scores": score(forecaster, scenario, truth)}
            record["eval_s"] = time.perf_counter() - t_eval
        record.update(run_id=run_id, rescored=bool(name != "oracle" and rescore and saved),
                      wall_s=time.perf_counter() - start, time_cap_s=cap, forecast_origins=len(truth.forecast_origins),
                      whatif_origins=len(truth.whatif_origins))
        (OUT / f"{name}_s{seed}.json").write_text(json.dumps(record, indent=1, default=float))
        log_run(name, seed, record, run_id)
        s = record["scores"]
        print(f"{name} s{seed}: {record['wall_s']:.0f} s  cf ratio {s.get('whatif_cf_crps_ratio', float('nan')):.3f}  "
              f"rank {s.get('whatif_ranking_accuracy', float('nan')):.3f}  trade-off rank "
              f"{s['trade_off']['ranking_accuracy']:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--time-cap", type=float, default=150.0, help="training wall-clock cap per model, s")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--forecast-origins", type=int, default=24)
    parser.add_argument("--whatif-origins", type=int, default=48)
    parser.add_argument("--force", action="store_true", help="re-run models whose per-run JSON exists")
    parser.add_argument("--rescore", action="store_true",
                        help="score again: saved tsloop bundles of this suite are reused, not retrained")
    parser.add_argument("--aggregate-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds, models = [int(s) for s in args.seeds.split(",")], args.models.split(",")
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    if not args.aggregate_only:
        for seed in seeds:
            run_seed(seed, models, args.time_cap, args.forecast_origins, args.whatif_origins, args.force, args.rescore)
    from pipelines.bench.plant_whatif_report import aggregate

    print(aggregate(seeds, models))


if __name__ == "__main__":
    main()
