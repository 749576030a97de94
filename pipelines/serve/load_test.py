"""Load test of the served model: ``mlflow models serve`` on 127.0.0.1, forecasts and what-if
queries (and some malformed requests) from 8 concurrent clients; latency, errors, server memory.

    python -m pipelines.serve.load_test --requests 1000 --concurrency 8      # -> pipelines/serve/RESULTS.md
    python -m pipelines.serve.load_test --requests 40 --results /tmp/r.md    # a quick look

It trains a tiny model on a simulated plant (2 series) into a temporary MLflow store, serves its
pyfunc model with the one command the README gives, and sends a fixed number of requests (the loop
ends by itself). The request format is in ``tsloop.query.serving``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tsloop.output import atomic_path, write_table

CONTEXT, HORIZON = 32, 8
START_S = 180  # bounded wait for the server to answer /ping
MALFORMED_EVERY = 25  # one request in 25 is malformed and must get a 4xx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_task(folder: Path) -> tuple[Path, pd.DataFrame, list[str]]:
    """A tiny plant task on disk (2 series, 15-minute steps), its frame and its targets."""
    from tsloop.sim.plant import PlantConfig, PlantSimulator
    from tsloop.sim.plant.frame import plant_frame, plant_task

    cfg = PlantConfig(series=2, steps=12 * 96, step_minutes=15, confounding=1.0)
    sim = PlantSimulator(cfg, seed=3)
    frame = plant_frame(sim, sim.simulate()[1])
    write_table(frame, folder / "plant.parquet")
    spec = plant_task("whatif", cfg, data="plant.parquet")
    spec.update(context_length=CONTEXT, horizon=HORIZON, name="serve-plant")
    path = folder / "serve.task.yaml"
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path, frame, list(spec["target"])


def bodies(frame: pd.DataFrame, targets: list[str], at: int, samples: int) -> dict[str, dict]:
    """JSON bodies of one forecast, one what-if (hold vs one more replica) and malformed requests."""
    groups = [g.iloc[at - CONTEXT : at + HORIZON].copy() for _, g in frame.groupby("series", sort=True)]
    for g in groups:
        g.loc[g.index[CONTEXT:], targets] = np.nan  # the future is what we ask for
    forecast = pd.concat(groups)
    history = pd.concat([g.iloc[:CONTEXT] for g in groups]).assign(plan=None)
    hold = pd.concat([g.iloc[CONTEXT:] for g in groups]).assign(plan="hold")
    scale_out = hold.assign(plan="scale_out", replicas=hold["replicas"].clip(upper=12) + 1)
    whatif = pd.concat([history, hold, scale_out])

    def split(df: pd.DataFrame) -> dict:
        return json.loads(df.to_json(orient="split", index=False, date_format="iso"))

    params = {"num_samples": samples, "seed": 0}
    return {
        "forecast": {"dataframe_split": split(forecast), "params": params},
        "whatif": {"dataframe_split": split(whatif), "params": {**params, "objective": "mean:latency_p95"}},
        "malformed": {"dataframe_split": split(forecast.drop(columns=["replicas"])), "params": params},
    }


def post(url: str, body: dict | bytes, timeout: float = 60) -> tuple[int, float, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, payload = err.code, err.read()
    except OSError as err:  # refused, reset, timed out: the server is not answering
        return 0, time.perf_counter() - start, {"error": str(err)}
    elapsed = time.perf_counter() - start
    try:
        return status, elapsed, json.loads(payload)
    except ValueError:
        return status, elapsed, {"raw": payload[:200].decode(errors="replace")}


def start_server(model_uri: str, port: int, env: dict) -> subprocess.Popen:
    """``mlflow models serve`` on 127.0.0.1 in its own process group, answering /ping."""
    # MLflow starts `uvicorn` by name: the environment's bin folder must be on PATH (an active venv)
    env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "-h", "127.0.0.1", "-p", str(port),
         "--env-manager", "local"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    deadline = time.monotonic() + START_S
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_server(proc)
                raise RuntimeError(f"the model server did not start: {proc.stderr.read()[-3000:]}")
            time.sleep(0.5)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def server_rss_mb(pgid: int) -> float:
    """Resident memory of every process in the server's process group (Linux /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # field 5 of stat: the process group
                status = (stat.parent / "status").read_text()
                total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
        except (OSError, StopIteration, IndexError, ValueError):  # a process that just ended
            continue
    return total / 1024


def load(url: str, plan: list[str], requests: dict[str, dict], concurrency: int) -> list[tuple[str, int, float, dict]]:
    """Send the requests named in ``plan`` (a fixed list: the loop ends by itself) from ``concurrency`` clients."""
    encoded = {k: json.dumps(v).encode() for k, v in requests.items()}
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda kind: (kind, *post(url, encoded[kind])), plan))


def mix(n: int) -> list[str]:
    """Forecasts and what-if queries alternately, every MALFORMED_EVERY-th request malformed."""
    return ["malformed" if i % MALFORMED_EVERY == MALFORMED_EVERY - 1 else ("forecast", "whatif")[i % 2]
            for i in range(n)]


def unexpected(results) -> list[tuple[str, int, dict]]:
    """Answers that are not what the request deserves: 200 for good requests, 400 for malformed ones."""
    return [(kind, status, body) for kind, status, _, body in results
            if status != (400 if kind == "malformed" else 200)]


def summarise(results, wall_s: float) -> dict:
    out = {"requests": len(results), "wall_s": wall_s, "throughput_rps": len(results) / wall_s,
           "errors": len(unexpected(results))}
    for kind in ("forecast", "whatif", "malformed"):
        ms = np.array([t for k, _, t, _ in results if k == kind]) * 1000
        out[kind] = {"n": len(ms), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}
    ms = np.array([t for _, _, t, _ in results]) * 1000
    out["all"] = {"n": len(ms), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}
    return out


def write_results(s: dict, args, path: Path, command: str) -> None:
    rows = [f"| {kind} | {s[kind]['n']} | {s[kind]['p50_ms']:.0f} | {s[kind]['p99_ms']:.0f} |"
            for kind in ("forecast", "whatif", "malformed", "all")]
    lines = [
        "# Serving under load: `mlflow models serve` on the logged pyfunc model",
        "",
        f"`{command}` on {platform.machine()}, 2 CPU cores shared by the server, the 8 client threads and other "
        "jobs (latencies are indicative). Model: `--preset tiny` trained on a simulated plant (2 series, context "
        f"{CONTEXT}, horizon {HORIZON}); each request asks for both series with `num_samples` {args.samples}. "
        "Server: `mlflow models serve -m runs:/RUN_ID/pyfunc -h 127.0.0.1 -p PORT --env-manager local` "
        "(MLflow's default single worker).",
        "",
        f"Requests: {s['requests']} at concurrency {args.concurrency}, forecasts and what-if queries (2 plans, "
        f"objective `mean:latency_p95`) alternating, every {MALFORMED_EVERY}th request malformed (a missing "
        "intervention column) and expected to get HTTP 400. An error is any other answer. "
        f"{args.warmup} warm-up requests before the run are not counted.",
        "",
        "| request | count | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"Errors: **{s['errors']}**. Throughput {s['throughput_rps']:.1f} requests/s over {s['wall_s']:.0f} s.",
        "",
        "Server memory (resident, all its processes): "
        f"{s['rss_start_mb']:.0f} MB after start, {s['rss_before_mb']:.0f} MB after the warm-up, "
        f"{s['rss_after_mb']:.0f} MB after the {s['requests']} requests "
        f"({s['rss_after_mb'] - s['rss_before_mb']:+.0f} MB).",
        "",
        "A malformed request's answer (cut at 400 characters):",
        "",
        "```",
        s["malformed_example"],
        "```",
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--samples", type=int, default=64, help="num_samples per request")
    parser.add_argument("--warmup", type=int, default=16)
    parser.add_argument("--results", default=str(Path(__file__).with_name("RESULTS.md")))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "TSLOOP_MLRUNS": str(tmp / "mlruns")}
        env.pop("MLFLOW_TRACKING_URI", None)
        task, frame, targets = make_task(tmp)
        trained = subprocess.run(
            [sys.executable, "-m", "tsloop.cli.main", "train", "--task", str(task), "--preset", "tiny",
             "--max-epochs", "1", "--limit-train-batches", "20", "--limit-val-batches", "4", "--batch-size", "16",
             "--train-stride", "4", "--no-progress", "--out", str(tmp / "model")],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )
        if trained.returncode:
            print(trained.stderr[-3000:], file=sys.stderr)
            return trained.returncode
        run_id = json.loads((tmp / "model" / "run.json").read_text())["run_id"]
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"
        port = free_port()
        server = start_server(f"runs:/{run_id}/pyfunc", port, env)
        try:
            url = f"http://127.0.0.1:{port}/invocations"
            requests = bodies(frame, targets, at=900, samples=args.samples)
            stats = {"rss_start_mb": server_rss_mb(server.pid)}
            load(url, mix(args.warmup), requests, args.concurrency)
            stats["rss_before_mb"] = server_rss_mb(server.pid)
            start = time.perf_counter()
            results = load(url, mix(args.requests), requests, args.concurrency)
            stats.update(summarise(results, time.perf_counter() - start))
            stats["rss_after_mb"] = server_rss_mb(server.pid)
            answer = next((s, b) for k, s, _, b in results if k == "malformed")
            # MLflow puts the request's repr before tsloop's message: show the status and the message
            stats["malformed_example"] = f"HTTP {answer[0]}: " + str(answer[1].get("message", answer[1])).split("\nError: ")[-1][:400]
            stats["unexpected"] = unexpected(results)[:3]
        finally:
            stop_server(server)
    print(json.dumps(stats, indent=1, default=str))
    command = "python -m pipelines.serve.load_test " + " ".join(argv if argv is not None else sys.argv[1:])
    write_results(stats, args, Path(args.results), command.strip())
    print(f"-> {args.results}")
    return 0 if stats["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
