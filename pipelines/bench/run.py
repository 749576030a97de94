"""Run one benchmark suite: every peer in its own process, back to back, then score and report.

Usage::

    .venv/bin/python -m pipelines.bench.run --suite epf_np            # all peers
    .venv/bin/python -m pipelines.bench.run --suite etth1_M --peers naive,ridge,tsloop
    .venv/bin/python -m pipelines.bench.report                        # rewrite RESULTS.md
    .venv/bin/python -m pipelines.bench.run --task my_task.yaml --peers naive,ridge,tsloop \
        --seeds 0,1,2 --out /tmp/bench --results /tmp/bench/results   # your own data, outside the checkout

Each peer runs in a fresh subprocess (so peak RSS is its own), one after another on the same
machine; predictions go to ``outputs/bench/<suite>/<peer>.npz``, scores to
``pipelines/bench/results/<suite>.json`` (or ``--results``) and the MLflow experiment ``bench``.
With ``--seeds 0,1,2`` every peer runs once per seed, as rows ``<peer>@s<seed>``; the report adds
their mean and standard deviation. ``tsloop`` trains exactly as ``tsloop train`` does with its
defaults (``TrainConfig()``), given only the seed.
"""

from __future__ import annotations

import argparse
import os
import json
import platform
import resource
import zipfile
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from tsloop.output import atomic_path

PEERS = ("tsloop", "tsloop_stepwise", "NHITS", "TiDE", "TSMixerx", "deepar", "fracast", "naive", "ridge")
RESULTS = Path(__file__).parent / "results"
# One thread per process: on 2 cores shared with other jobs, 2 OpenMP threads made a tsloop
# training step 5.6x slower (2.32 s vs 0.41 s, measured back to back), and small-op models most.
THREADS = 1
THREAD_ENV = {k: str(THREADS) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def run_one(suite_name: str, peer: str, out: Path, seed: int, row: str) -> None:
    import torch

    torch.set_num_threads(THREADS)
    from pipelines.bench import peers
    from pipelines.bench.data import suite_for
    from pipelines.bench.tsloop_peer import run_tsloop
    from tsloop.data.task import load_task
    from tsloop.train.config import TrainConfig

    _, suite = suite_for(suite_name)
    task = load_task(suite.task)
    fn = {"naive": peers.run_naive, "ridge": peers.run_ridge, "fracast": peers.run_fracast,
          "deepar": peers.run_deepar, "tsloop": run_tsloop}.get(peer)
    start = time.perf_counter()
    variants = {  # tsloop's own ablations and fixes under test (see RESULTS.md, "Where tsloop loses")
        "tsloop_stepwise": dict(overrides={"deferred": False}, tag="_stepwise"),
        "tsloop_noin": dict(instance_norm=False, tag="_noin"),
        "tsloop_long": dict(train={"max_steps": 3 * TrainConfig().max_steps}, tag="_long"),  # 3x the budget
        "tsloop_outer": dict(overrides={"outer_retention": 0.9}, tag="_outer"),  # memory across outer steps
        "tsloop_k5": dict(overrides={"k_every": 5}, tag="_k5"),  # the deferred-K curriculum 5x faster
        "tsloop_mu4": dict(overrides={"mean_depth": 4.0}, tag="_mu4"),  # half the loops: cheaper steps
        # the direct path: without the context's covariates (the default before 2026-12-06), with the past-only ones too, a per-step
        # MLP of the known row, in instance or task units
        "tsloop_nopastcov": dict(overrides={"linear_context_covariates": "none"}, tag="_nopastcov"),
        "tsloop_allpastcov": dict(overrides={"linear_context_covariates": "all"}, tag="_allpastcov"),
        "tsloop_mlp": dict(overrides={"linear_known_hidden": 32}, tag="_mlp"),
        # the learning rate decayed over the step budget (warm-up, cosine down to a tenth), and the same at 2x steps
        "tsloop_cosine": dict(train={"lr_schedule": "cosine"}, tag="_cosine"),
        "tsloop_cosine_2x": dict(train={"lr_schedule": "cosine", "max_steps": 2 * TrainConfig().max_steps},
                                 tag="_cosine_2x"),
        "tsloop_mlp_task": dict(overrides={"linear_known_hidden": 32, "linear_covariate_units": "task"},
                                tag="_mlp_task"),
        # the steps to the defaults of 2026-12-07, each pinned to the direct path it was measured with (EPF NP, seed 0):
        # the cubic known terms on a jointly trained path (0.210), the loss in the task's units (0.219; 0.211 with the
        # cubic terms), all covariate terms in the task's units (0.229), a least-squares start trained on (0.214; 0.216
        # with the cubic terms), and the defaults before (tsloop_joint) and after. The three joint runs with the cubic
        # terms had their per-step map only (the every-step map came later), so a rerun differs from them.
        "tsloop_poly": dict(overrides={"linear_known_poly": 3}, train={"direct_path": "joint"}, tag="_poly"),
        "tsloop_taskloss": dict(overrides={"loss_units": "task", "linear_known_poly": 0}, train={"direct_path": "joint"},
                                tag="_taskloss"),
        "tsloop_taskloss_poly": dict(overrides={"loss_units": "task", "linear_known_poly": 3},
                                     train={"direct_path": "joint"}, tag="_taskloss_poly"),
        "tsloop_poly_task": dict(overrides={"linear_known_poly": 3, "linear_covariate_units": "task"},
                                 train={"direct_path": "joint"}, tag="_poly_task"),
        "tsloop_prefit": dict(overrides={"linear_known_poly": 0}, train={"direct_path": "prefit"}, tag="_prefit"),
        "tsloop_prefit_poly": dict(overrides={"linear_known_poly": 3}, train={"direct_path": "prefit"}, tag="_prefit_poly"),
        "tsloop_joint": dict(overrides={"linear_known_poly": 0}, train={"direct_path": "joint"}, tag="_joint"),
        "tsloop_fixed_poly": dict(overrides={"linear_known_poly": 3}, train={"direct_path": "fixed"}, tag="_fixed_poly"),
    }
    # the same at a fixed step budget (400 optimizer steps, no clock), so variants that ran under different
    # machine loads are compared on equal compute
    steps = {"max_steps": 400, "patience": 10}
    variants |= {f"{name}_400": dict(spec, train={**spec.get("train", {}), **steps}, tag=spec["tag"] + "_400")
                 for name, spec in list(variants.items()) + [("tsloop", dict(tag=""))] if name != "tsloop_long"}
    if peer.endswith("_std"):  # neuralforecast model with per-window standard scaling (its temporal norm)
        res = peers.run_nf(task, suite, seed, name=peer[:-4], scaler_type="standard")
    elif peer == "tsloop_ci":
        from pipelines.bench.tsloop_peer import run_tsloop_ci
        res = run_tsloop_ci(task, suite, seed, tag="_ci")
    elif peer in variants:
        res = run_tsloop(task, suite, seed, **variants[peer])
    else:
        res = fn(task, suite, seed) if fn else peers.run_nf(task, suite, seed, name=peer)
    res["total_s"] = time.perf_counter() - start
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    arrays = {"point": res.pop("point")}
    if res.get("quantiles") is not None:
        arrays["quantiles"] = res.pop("quantiles")
    for key, value in res.pop("extra_points", {}).items():
        arrays[key] = value
    res["seed"] = seed
    # a file object, not the temporary's name: given a name, np.savez appends ".npz" to it
    with atomic_path(out / f"{row}.npz") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    with atomic_path(out / f"{row}.json") as tmp:
        tmp.write_text(json.dumps(res, default=str, indent=1))


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``np.savez`` file, each read with ``allow_pickle=False``: no object arrays, no code."""
    with zipfile.ZipFile(path) as archive:
        return {name.removesuffix(".npy"): np.lib.format.read_array(archive.open(name), allow_pickle=False)
                for name in archive.namelist()}


def score(suite_name: str, out: Path, peers: list[str]) -> dict:
    from pipelines.bench.data import metrics, suite_for, windows
    from tsloop.data.task import load_task

    _, suite = suite_for(suite_name)
    task = load_task(suite.task)
    truth = windows(task, "test")["future_target"]
    sub = slice(None, None, suite.subsample)
    rows = {}
    for peer in peers:
        if not (out / f"{peer}.json").is_file():
            continue
        info = json.loads((out / f"{peer}.json").read_text())
        arrays = read_arrays(out / f"{peer}.npz")
        stride = info.get("eval_stride", 1)
        q = arrays.get("quantiles")
        names = {peer: arrays["point"]} | {k: arrays[k] for k in arrays if k.startswith("naive_")}
        for name, point in names.items():
            entry = {"info": info, "eval_stride": stride, "windows": len(point)}
            qq = q if name == peer else None
            if stride == 1:
                entry["all"] = metrics(point, truth, qq)
                entry["sub"] = metrics(point[sub], truth[sub], None if qq is None else qq[sub])
            else:
                assert stride == suite.subsample
                entry["sub"] = metrics(point, truth[sub], qq)
            rows[name] = entry
    return {"suite": suite_name, "task": suite.task, "published": suite.published, "subsample": suite.subsample,
            "time_cap_s": suite.time_cap_s, "test_windows": len(truth), "rows": rows}


def log_mlflow(result: dict) -> None:
    from tsloop.tracking.record import log_result

    for name, row in result["rows"].items():
        info = row["info"]
        flat = {f"{part}/{k}": v for part in ("all", "sub") for k, v in row.get(part, {}).items()}
        flat |= {k: info[k] for k in ("fit_s", "best_s", "predict_s", "whatif_ms", "peak_rss_mb", "total_s", "params")
                 if info.get(k) is not None}
        log_result("bench", f"{result['suite']}/{name}", tags={"suite": result["suite"], "peer": name},
                   params={k: str(v)[:250] for k, v in info.get("hparams", {}).items()}, metrics=flat)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--suite", help="a named suite: " + ", ".join(sorted(_suites())))
    what.add_argument("--task", help="any single-series task file: benchmark on your own data")
    p.add_argument("--peers", default=",".join(PEERS))
    p.add_argument("--seed", type=int, default=0, help="seed of a single run (rows named by the peer)")
    p.add_argument("--seeds", help="comma-separated seeds: one run per peer and seed, rows <peer>@s<seed>")
    p.add_argument("--out", default="outputs/bench", help="predictions and logs (default outputs/bench)")
    p.add_argument("--results", help="folder for the scores JSON (default pipelines/bench/results; "
                   "RESULTS.md is rewritten only for the default)")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--row", help=argparse.SUPPRESS)
    p.add_argument("--score-only", action="store_true", help="re-score saved predictions")
    args = p.parse_args(argv)
    from pipelines.bench.data import suite_for

    source = args.suite or args.task
    name, _ = suite_for(source)
    out = Path(args.out) / name
    if args.one:
        run_one(source, args.one, out, args.seed, args.row or args.one)
        return 0
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
    runs = [(peer, seed, f"{peer}@s{seed}" if args.seeds else peer) for peer in args.peers.split(",") for seed in seeds]
    log = {}
    if not args.score_only:
        for peer, seed, row in runs:
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "pipelines.bench.run", "--suite" if args.suite else "--task",
                                   source, "--one", peer, "--row", row, "--seed", str(seed), "--out", args.out],
                                  capture_output=True, text=True, env={**os.environ, **THREAD_ENV}, check=False)
            log[row] = {"rc": proc.returncode, "wall_s": round(time.perf_counter() - t0, 1)}
            with atomic_path(out / f"{row}.log") as tmp:
                tmp.write_text(proc.stdout + proc.stderr)
            print(f"[bench] {name} {row}: rc={proc.returncode} {log[row]['wall_s']}s", flush=True)
            if proc.returncode:
                print(proc.stderr[-3000:], flush=True)
    result = score(source, out, [row for _, _, row in runs])
    result["suite"] = name
    results = Path(args.results) if args.results else RESULTS
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{name}.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    result["rows"] = {**old.get("rows", {}), **result["rows"]}  # rows of earlier runs stay, as the record
    command = "python -m pipelines.bench.run " + " ".join(argv or sys.argv[1:])
    result["commands"] = old.get("commands", []) + ([] if args.score_only else [command])
    result["processes"] = {**old.get("processes", {}), **log}
    result["machine"] = (f"{platform.node()} {platform.processor() or platform.machine()}, shared CPU; peers "
                         f"{THREADS} thread; tsloop threads chosen as `tsloop train` does (recorded per row)")
    result["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result, indent=1, default=str))
    try:
        log_mlflow(result)
    except Exception as err:  # tracking must not lose the benchmark
        print(f"[bench] MLflow logging failed: {err}", flush=True)
    if results == RESULTS:
        from pipelines.bench import report
        report.main()
    else:
        print(f"[bench] scores: {path}", flush=True)
    return 0


def _suites() -> list[str]:
    from pipelines.bench.data import SUITES

    return list(SUITES)


if __name__ == "__main__":
    raise SystemExit(main())
