"""Streamed training on the 10-million-row, 1,000-series file: peak RSS and windows/s.

Makes the file with ``pipelines.bench.scale.make_file`` (skipped if it is there), then runs
``tsloop train --stream`` on it in a fresh process for a fixed number of optimiser steps and
reports that process's peak RSS (ru_maxrss) and training throughput.

    python -m pipelines.bench.scale_train --out /tmp/scale --steps 200
    python -m pipelines.bench.scale_train --rows 200000 --series 20 --out /tmp/scale_small --steps 20   # a quick look

Writes ``pipelines/bench/RESULTS_scale_train.md`` (``--results``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.bench.scale import make_file
from tsloop.output import atomic_path


def measure(task: str, steps: int, batch: int, chunk: int, out: str) -> dict:
    """In this process: train with --stream for ``steps`` steps, timing the training batches."""
    import lightning.pytorch as pl

    from tsloop.cli.main import main

    seen = {"windows": 0, "first": None, "last": None}

    class Clock(pl.Callback):
        def on_train_epoch_start(self, trainer, module):
            seen["first"] = seen["first"] or time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            seen["windows"] += len(batch["past_target"])
            seen["last"] = time.perf_counter()

    class ClockedTrainer(pl.Trainer):
        def __init__(self, *args, callbacks=(), **kwargs):
            super().__init__(*args, callbacks=[*callbacks, Clock()], **kwargs)

    pl.Trainer = ClockedTrainer
    start = time.perf_counter()
    code = main(["train", "--task", task, "--stream", "--stream-chunk", str(chunk), "--preset", "tiny",
                 "--max-epochs", "1", "--limit-train-batches", str(steps), "--limit-val-batches", "20",
                 "--batch-size", str(batch), "--train-stride", "4", "--val-stride", "24", "--no-progress",
                 "--out", out])
    train_s = seen["last"] - seen["first"]
    return {"exit": code, "steps": steps, "batch": batch, "windows": seen["windows"], "train_s": train_s,
            "windows_per_s": seen["windows"] / train_s, "command_s": time.perf_counter() - start}


def write_results(r: dict, args, path: Path, file_mb: float, command: str) -> None:
    lines = [
        "# Scale: training on a file larger than memory (`tsloop train --stream`)",
        "",
        f"`{command}` on {platform.machine()} with 2 CPU cores shared with other jobs (times are indicative; "
        "memory is not affected by the sharing).",
        "",
        f"File: {args.rows:,} rows, {args.series:,} series, 6 columns, {file_mb:.0f} MB Parquet (made by "
        "`pipelines/bench/scale.py`: context 96, horizon 24). The training runs in a fresh process: `tsloop train "
        f"--stream --stream-chunk {args.chunk} --preset tiny --max-epochs 1 --limit-train-batches {args.steps} "
        f"--limit-val-batches 20 --batch-size {args.batch} --train-stride 4 --val-stride 24`, logging to a temporary "
        "MLflow store. Peak RSS is that process's maximum resident set (ru_maxrss): Python, torch, polars and "
        "MLflow included.",
        "",
        "| optimiser steps | windows trained | training loop s | windows/s | whole command s | peak RSS |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {r['steps']} | {r['windows']:,} | {r['train_s']:.1f} | {r['windows_per_s']:,.0f} | {r['command_s']:.0f} | "
        f"{r['peak_rss_mb']:,.0f} MB |",
        "",
        "The training loop time runs from the epoch's start to the last training batch's end: reading the "
        "chunks, forward, backward and optimiser steps. The whole command also validates the file chunk by chunk, "
        "computes the data fingerprint in a second streaming pass, validates 20 batches, and logs the model, "
        "plots and pyfunc model to MLflow. For comparison, `load_task` alone (the in-memory path) peaks at "
        "2,261 MB on this file (`RESULTS_scale.md`), before any model is built. A short run like this one trains on "
        "windows of the first chunk visited only (64 series hold about a hundred thousand train windows at stride 4); "
        "a whole epoch reads every chunk once, with memory still bounded by one chunk.",
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=200, help="optimiser steps (batches) to train")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=64, help="series per chunk")
    parser.add_argument("--out", default="/tmp/scale", help="folder for the file and the training output")
    parser.add_argument("--results", default=str(Path(__file__).with_name("RESULTS_scale_train.md")))
    parser.add_argument("--measure", nargs=2, metavar=("TASK", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure[0], args.steps, args.batch, args.chunk, args.measure[1])))
        return 0
    folder = Path(args.out)
    task, data = folder / "big.task.yaml", folder / "big.parquet"
    if not task.is_file() or not data.is_file() or pq.ParquetFile(data).metadata.num_rows != args.rows // args.series * args.series:
        task = make_file(folder, args.rows, args.series)
    with tempfile.TemporaryDirectory() as store:
        env = {**os.environ, "TSLOOP_MLRUNS": store}
        env.pop("MLFLOW_TRACKING_URI", None)
        proc = subprocess.run([sys.executable, "-m", "pipelines.bench.scale_train", "--steps", str(args.steps),
                               "--batch", str(args.batch), "--chunk", str(args.chunk),
                               "--measure", str(task), str(folder / "train")], capture_output=True, text=True, env=env,
                              check=False)
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
        return proc.returncode
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps(result))
    command = "python -m pipelines.bench.scale_train " + " ".join(argv if argv is not None else sys.argv[1:])
    write_results(result, args, Path(args.results), data.stat().st_size / 2**20, command.strip())
    print(f"-> {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
