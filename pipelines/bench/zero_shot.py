"""Zero-shot suite (issue #16): a pretrained model, never trained on the task, against seasonal
naive and fracast on the test part of each benchmark task.

Usage::

    python -m pipelines.bench.zero_shot --model outputs/pretrain/model.pt            # every task
    python -m pipelines.bench.zero_shot --model pretrained --tasks epf_np,etth1_M --peers naive
    python -m pipelines.bench.zero_shot --model outputs/pretrain/model.pt --results /tmp/zs   # outside the checkout

Protocol, the same for every model:

- **windows**: every ``--stride``-th stride-1 test window of the task's own split (default 24,
  the *sub* windows of the forecasting suites), on the task's train-fitted scale; metrics as in
  ``data.metrics`` (MSE and MAE of the median, CRPS over the levels 0.1 … 0.9).
- **history**: each model reads the same rows before the forecast origin: up to ``--history``
  (default 512, the pretrained model's context) rows, which may reach back before the test part
  as the forecasting suites' context does; seasonal naive reads its last season.
- **channel-independent**: every target channel is forecast on its own, with no covariates.
- **horizon**: the task's; the pretrained model rolls longer horizons forward on its median, as
  ``tsloop.query.zero_shot`` does, and fracast forecasts them directly.
- **the model's own quantiles**: tsloop's are read from its quantile head over a batch of windows
  (what the query turns into sample paths), without the sampling and the range clipping of
  ``tsloop forecast``; thousands of windows take seconds this way.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pipelines.bench.data import LEVELS, metrics, starts, suite_for
from tsloop.data.batch import empty_batch
from tsloop.forecaster import Forecaster
from tsloop.output import atomic_path
from tsloop.query.pretrained import file_sha256, resolve

TASKS = ("epf_np", "epf_pjm", "epf_be", "epf_fr", "etth1_M", "tasks/nab_nyc_taxi.yaml",
         "tasks/nab_machine_temperature.yaml", "tasks/nab_ec2_cpu_24ae8d.yaml",
         "tasks/citylearn2022_building1.yaml")
PEERS = ("tsloop", "naive", "fracast")
RESULTS = Path(__file__).parent / "results" / "zero_shot.json"
REPORT = Path(__file__).parent / "RESULTS_zero_shot.md"


def histories(task, stride: int, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test windows of a single-series task: histories (N*C, length) with their masks (rows before
    the series' start are missing), and truths (N, H, C), all scaled."""
    values = task.scaled[0].values["target"]  # (T, C)
    L, H = task.spec.context_length, task.spec.horizon
    origins = starts(task, "test")[::stride] + L
    hist = np.zeros((len(origins), length, values.shape[1]))
    mask = np.zeros_like(hist)
    for i, o in enumerate(origins):
        lo = max(0, o - length)
        hist[i, length - (o - lo):] = values[lo:o]
        mask[i, length - (o - lo):] = np.isfinite(values[lo:o])
    truth = np.stack([values[o:o + H] for o in origins])
    flat = lambda x: np.moveaxis(x, 2, 1).reshape(-1, length)  # (N*C, length), channel-independent
    return np.nan_to_num(flat(hist)), flat(mask), truth


def run_tsloop(model, hist: np.ndarray, mask: np.ndarray, horizon: int) -> np.ndarray:
    """Quantiles (N*C, horizon, 9) of the pretrained model, rolled forward on its median past its horizon."""
    cfg = model.cfg
    pick = [cfg.quantile_index(level) for level in LEVELS]
    mid = cfg.median_index
    hist, mask = hist[:, -cfg.context_length:], mask[:, -cfg.context_length:]
    if hist.shape[1] < cfg.context_length:  # pad the front: missing rows
        pad = cfg.context_length - hist.shape[1]
        hist, mask = np.pad(hist, ((0, 0), (pad, 0))), np.pad(mask, ((0, 0), (pad, 0)))
    out = []
    for lo in range(0, len(hist), 512):
        h, m = torch.tensor(hist[lo:lo + 512], dtype=torch.float32), torch.tensor(mask[lo:lo + 512], dtype=torch.float32)
        chunks, done = [], 0
        while done < horizon:
            batch = empty_batch(cfg.dims, len(h), cfg.context_length, cfg.horizon)
            batch["past_target"], batch["past_target_mask"] = h[..., None], m[..., None]
            with torch.no_grad():
                q = model(batch).quantiles[:, :, 0]  # (B, H_model, Q)
            chunks.append(q[..., pick])
            done += q.shape[1]
            h = torch.cat([h, q[..., mid]], dim=1)[:, -cfg.context_length:]  # the median, as if observed
            m = torch.cat([m, torch.ones_like(q[..., mid])], dim=1)[:, -cfg.context_length:]
        out.append(torch.cat(chunks, dim=1)[:, :horizon].numpy())
    return np.sort(np.concatenate(out), axis=-1)


def run_fracast(hist: np.ndarray, mask: np.ndarray, horizon: int) -> np.ndarray:
    """fracast's quantiles (N*C, horizon, 9) from the observed part of the same histories."""
    from fracast import FracastModel

    model = FracastModel.from_pretrained()  # the weights inside its wheel; no download
    assert np.allclose(model.quantiles, LEVELS)
    seen = int(mask.sum(1).min())  # every window has at least this many observed rows at its end
    rows = hist[:, -seen:]
    return np.sort(np.concatenate([model.forecast_batch(rows[i:i + 256], horizon=horizon)
                                   for i in range(0, len(rows), 256)]), axis=-1)


def run_naive(hist: np.ndarray, season: int, horizon: int) -> np.ndarray:
    """Seasonal naive point forecasts (N*C, horizon): the last season repeated."""
    last = hist[:, -season:]
    return np.concatenate([last] * int(np.ceil(horizon / season)), axis=1)[:, :horizon]


def evaluate(name: str, model, peers: list[str], stride: int, length: int) -> dict:
    from tsloop.data.task import load_task

    suite_name, suite = suite_for(name)
    task = load_task(suite.task)
    hist, mask, truth = histories(task, stride, length)
    n, horizon, channels = truth.shape
    unflat = lambda x: np.moveaxis(x.reshape(n, channels, horizon, *x.shape[2:]), 1, 2)  # -> (N, H, C, ...)
    rows = {}
    for peer in peers:
        start = time.perf_counter()
        if peer == "tsloop":
            q = unflat(run_tsloop(model, hist, mask, horizon))
            rows[peer] = metrics(q[..., 4], truth, q)
        elif peer == "fracast":
            q = unflat(run_fracast(hist, mask, horizon))
            rows[peer] = metrics(q[..., 4], truth, q)
        else:
            rows[peer] = metrics(unflat(run_naive(hist, suite.season, horizon)), truth)
        rows[peer]["seconds"] = round(time.perf_counter() - start, 1)
        print(f"[zero-shot] {suite_name} {peer}: " + " ".join(f"{k}={v:.4f}" for k, v in rows[peer].items()), flush=True)
    return {"task": suite.task, "windows": n, "channels": channels, "horizon": horizon, "season": suite.season,
            "rows": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="pretrained", help="a pretrained model file, or 'pretrained' (the shipped one)")
    p.add_argument("--tasks", default=",".join(TASKS), help="suite names or single-series task files")
    p.add_argument("--peers", default=",".join(PEERS))
    p.add_argument("--stride", type=int, default=24, help="every n-th stride-1 test window")
    p.add_argument("--history", type=int, default=512, help="rows before the origin every model reads")
    p.add_argument("--results", help="folder for zero_shot.json (default pipelines/bench/results)")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    forecaster = Forecaster.pretrained(None if args.model == "pretrained" else args.model)
    model = forecaster.model.eval()
    peers = args.peers.split(",")
    out = {"model": args.model, "model_sha256": file_sha256(resolve(args.model)),
           "pretrained": forecaster.meta.get("pretrained"), "stride": args.stride,
           "history": args.history, "command": "python -m pipelines.bench.zero_shot " + " ".join(argv or sys.argv[1:]),
           "tasks": {}}
    for name in args.tasks.split(","):
        out["tasks"][suite_for(name)[0]] = evaluate(name, model, peers, args.stride, args.history)
    path = Path(args.results) / RESULTS.name if args.results else RESULTS
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(out, indent=1, default=str))
    print(f"[zero-shot] scores: {path}", flush=True)
    if not args.results:  # the published run: its section of RESULTS.md
        with atomic_path(REPORT) as tmp:
            tmp.write_text(report(out))
        print(f"[zero-shot] report: {REPORT}", flush=True)
    return 0


def segments(compute: dict) -> str:
    """The pretraining runs a model's steps came from, e.g. 'runs ending at steps 3500, 10000, 30000'."""
    return "runs ending at steps " + ", ".join(str(s["steps_at_end"]) for s in compute["segments"])


def report(out: dict) -> str:
    """The suite's section of RESULTS.md, from a results dict."""
    info = out.get("pretrained") or {}
    compute = info.get("compute", {})
    fmt = lambda row, key: f"{row[key]:.3f}" if row and key in row else "–"
    lines = [
        "## Zero-shot suite: the pretrained model, never fitted to a task, on each task's test part (issue #16)",
        "",
        f"Command: `{out['command']}`. Every {out['stride']}th stride-1 test window of each task's own split, "
        f"on its train-fitted scale; each model reads the same {out['history']} rows before the origin, each target "
        "channel on its own, no covariates. The model was pretrained on the corpus of "
        "`datasets/pretrain_corpus/` (which holds only the training parts of these tasks' series) for "
        f"{compute.get('steps', '?')} optimizer steps in all ({compute.get('wall_time_s', '?')} s on {compute.get('device', '?')}"
        f"{'; ' + segments(compute) if compute.get('segments') else ''}); model file sha256 "
        f"`{out.get('model_sha256', 'unrecorded')[:12]}…`. "
        "MSE and MAE of the median; CRPS over the levels 0.1 … 0.9; seasonal naive repeats the last day "
        "(hourly and finer) or the last horizon.",
        "",
        "| task | windows × channels | horizon | tsloop MSE / MAE / CRPS | seasonal naive MSE / MAE | fracast MSE / MAE / CRPS "
        "| tsloop MSE ÷ naive | tsloop MSE ÷ fracast |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, task in out["tasks"].items():
        rows = task["rows"]
        t, n, f = rows.get("tsloop"), rows.get("naive"), rows.get("fracast")
        ratio = lambda a, b: f"{a['mse'] / b['mse']:.2f}" if a and b else "–"
        lines.append(f"| {name} | {task['windows']} × {task['channels']} | {task['horizon']} "
                     f"| {fmt(t, 'mse')} / {fmt(t, 'mae')} / {fmt(t, 'crps')} | {fmt(n, 'mse')} / {fmt(n, 'mae')} "
                     f"| {fmt(f, 'mse')} / {fmt(f, 'mae')} / {fmt(f, 'crps')} | {ratio(t, n)} | {ratio(t, f)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
