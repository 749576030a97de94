"""Scale benchmark: validate and window a 10-million-row, 1,000-series Parquet file.

Each measurement runs in a fresh process so its peak RSS (ru_maxrss) is its own:

- ``full``: today's path, ``load_task`` (the whole table in memory), then every train window;
- ``stream``: ``tsloop.data.stream`` (lazy scan, ``--chunk`` series at a time), same windows.

    python -m pipelines.bench.scale --rows 10000000 --series 1000 --out outputs/scale
    python -m pipelines.bench.scale --rows 200000 --series 20 --out /tmp/scale   # a quick look

Writes ``pipelines/bench/RESULTS_scale.md`` (``--results``) with peak RSS and throughput.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from tsloop.output import atomic_path

CONTEXT, HORIZON, STRIDE = 96, 24, 4


def make_file(folder: Path, rows: int, series: int, seed: int = 0) -> Path:
    """A long Parquet file (sorted by series, then time) and its task file, written series-block by block."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "big.parquet"
    per = rows // series
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00:00", "ns")
    with atomic_path(path) as tmp:  # the Parquet file appears only once every block is written
        writer = None
        for first in range(0, series, 50):
            count = min(50, series - first)
            n = per * count
            t = np.tile(start + np.arange(per) * np.timedelta64(60, "s"), count)
            sid = np.repeat([f"host-{i:04d}" for i in range(first, first + count)], per)
            phase = np.tile(np.arange(per), count) * (2 * np.pi / 1440)
            load = 50 + 20 * np.sin(phase) + rng.normal(0, 3, n)
            table = pa.table({
                "timestamp": pa.array(t, pa.timestamp("ns")),
                "host": sid,
                "cpu": load,
                "latency_ms": 20 + 0.5 * load + rng.gamma(2, 2, n),
                "rps": 1000 + 400 * np.sin(phase) + rng.normal(0, 30, n),
                "replicas": np.repeat(rng.integers(2, 9, count), per).astype(float),
            })
            writer = writer or pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=per * 10)
        writer.close()
    task = {"name": "scale", "data": path.name, "format": "long", "timestamp": "timestamp", "series_id": "host",
            "freq": "1min", "target": ["cpu", "latency_ms"], "past_exog": ["rps"], "intervention": ["replicas"],
            "context_length": CONTEXT, "horizon": HORIZON}
    with atomic_path(folder / "big.task.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(task, sort_keys=False))
    return folder / "big.task.yaml"


def measure(mode: str, task_path: str, chunk: int, max_windows: int) -> dict:
    """One measurement in this process: seconds and peak RSS for validation, then for windows."""
    from torch.utils.data import DataLoader

    from tsloop.data.spec import TaskSpec

    spec = TaskSpec.from_yaml(task_path)
    t0 = time.perf_counter()
    if mode == "full":
        from tsloop.data.task import load_task

        task = load_task(spec)
        rows = task.report.rows
        t1 = time.perf_counter()
        rss_validate = peak_rss_mb()
        loader = DataLoader(task.dataset("train", stride=STRIDE), batch_size=256, shuffle=True)
    else:
        from tsloop.data.stream import StreamWindows, validate_stream

        report, scaler, _ = validate_stream(spec, series_per_chunk=chunk)
        rows = report.rows
        t1 = time.perf_counter()
        rss_validate = peak_rss_mb()
        loader = StreamWindows(spec, scaler, part="train", stride=STRIDE, batch_size=256, series_per_chunk=chunk)
    windows = 0
    for batch in loader:
        windows += len(batch["past_target"])
        if windows >= max_windows:
            break
    t2 = time.perf_counter()
    return {"mode": mode, "rows": rows, "validate_s": t1 - t0, "windows": windows, "window_s": t2 - t1,
            "rows_per_s": rows / (t1 - t0), "windows_per_s": windows / (t2 - t1),
            "peak_rss_validate_mb": rss_validate, "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def write_results(results: list[dict], args, path: Path, file_mb: float) -> None:
    lines = [
        "# Scale: validating and windowing a large telemetry file",
        "",
        f"`python -m pipelines.bench.scale --rows {args.rows} --series {args.series} --chunk {args.chunk}` on "
        f"{platform.machine()} with 2 shared CPU cores (other jobs were running; times are indicative, memory is "
        f"not affected). File: {args.rows:,} rows, {args.series:,} series, 6 columns, {file_mb:.0f} MB Parquet. "
        f"Windows: context {CONTEXT}, horizon {HORIZON}, train part, stride {STRIDE}, batches of 256 in the batch "
        f"contract, the first {args.max_windows:,} timed (throughput; the count column says how many). Each mode runs "
        "in a fresh process; peak RSS is the process's maximum resident set (ru_maxrss), including "
        "Python, torch and polars (~0.4 GB).",
        "",
        "| path | rows validated | validate s | rows/s | peak RSS after validation | train windows | windows/s | peak RSS overall |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        name = "before: `load_task` (whole table in memory)" if r["mode"] == "full" else \
            f"after: `tsloop.data.stream` ({args.chunk} series per chunk)"
        lines.append(f"| {name} | {r['rows']:,} | {r['validate_s']:.1f} | {r['rows_per_s']:,.0f} | "
                     f"{r['peak_rss_validate_mb']:,.0f} MB | {r['windows']:,} | {r['windows_per_s']:,.0f} | "
                     f"{r['peak_rss_mb']:,.0f} MB |")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=50, help="series per chunk on the streaming path")
    parser.add_argument("--modes", default="full,stream")
    parser.add_argument("--max-windows", type=int, default=300_000, help="windows timed per mode (the first ones)")
    parser.add_argument("--out", default="outputs/scale")
    parser.add_argument("--results", default=str(Path(__file__).with_name("RESULTS_scale.md")))
    parser.add_argument("--measure", nargs=2, metavar=("MODE", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure[0], args.measure[1], args.chunk, args.max_windows)))
        return 0
    folder = Path(args.out)
    task = folder / "big.task.yaml"
    data = folder / "big.parquet"
    if not task.is_file() or not data.is_file() or pq.ParquetFile(data).metadata.num_rows != args.rows // args.series * args.series:
        start = time.perf_counter()
        task = make_file(folder, args.rows, args.series)
        print(f"wrote {folder / 'big.parquet'} in {time.perf_counter() - start:.0f} s", flush=True)
    results = []
    for mode in args.modes.split(","):
        out = subprocess.run([sys.executable, "-m", "pipelines.bench.scale", "--chunk", str(args.chunk), "--max-windows", str(args.max_windows),
                              "--measure", mode, str(task)], capture_output=True, text=True, check=False)
        if out.returncode:
            print(out.stderr[-3000:], file=sys.stderr)
            return out.returncode
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    write_results(results, args, Path(args.results), (folder / "big.parquet").stat().st_size / 2**20)
    print(f"-> {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
