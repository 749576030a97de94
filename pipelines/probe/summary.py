"""Compact tables for RESULTS.md from a report's ``scores.csv``: one row per (model, latents, probe),
one column per property, at one K (the full per-K tables are in ``tables.md`` beside it).

Usage::

    python pipelines/probe/summary.py pipelines/probe/results/plant --k 32
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

NUMERIC = {"dense R²": "dense_r2", "high-freq R²": "detail_r2"}
EVENT = {"step AUPRC": "step_auprc", "recall@1%FA": "step_recall", "window AUPRC": "win_auprc",
         "first-event MAE (steps)": "timing_mae", "within ±1": "timing_within1"}
BASES = {"step_auprc": "step_base", "win_auprc": "win_base", "timing_mae": "timing_const_mae"}


def cell(row: pd.Series | None, digits: int = 2) -> str:
    if row is None or pd.isna(row["mean"]):
        return "–"
    return f"{row['mean']:.{digits}f} [{row['lo']:.{digits}f}, {row['hi']:.{digits}f}]"


def summary(table: pd.DataFrame, ks: tuple[int, ...], columns: dict[str, str], channel: str = "mean",
            families: tuple[str, ...] = ("ridge", "mlp", "head")) -> str:
    """Markdown: rows (model, latents, probe), a column per metric of ``columns`` and K, one channel."""
    part = table[table.K.isin(ks) & (table.channel == channel)]
    cols = [(f"{title} K={k}" if len(ks) > 1 else title, metric, k) for title, metric in columns.items() for k in ks]
    lines = ["| model | latents | probe | " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * (3 + len(cols))]
    keys = part[["model", "mode", "family"]].drop_duplicates()
    for _, key in keys[keys.family.isin(families)].iterrows():
        sel = part[(part.model == key.model) & (part["mode"] == key["mode"]) & (part.family == key.family)]
        cells = []
        for _, metric, k in cols:
            row = sel[(sel.metric == metric) & (sel.K == k)]
            cells.append(cell(row.iloc[0] if len(row) else None, 1 if metric == "timing_mae" else 2))
        lines.append(f"| {key.model} | {key['mode']} | {key.family} | " + " | ".join(cells) + " |")
    base = [part[(part.metric == BASES[m]) & (part.K == k)]["mean"].mean() if m in BASES else None for _, m, k in cols]
    if any(b is not None for b in base):
        lines.append("| *chance / best constant* | | | " + " | ".join("" if b is None else f"{b:.3g}" for b in base) + " |")
    return "\n".join(lines)


def report(table: pd.DataFrame, k: int, numeric_ks: tuple[int, ...] = (4, 32)) -> str:
    """The numeric table (at ``numeric_ks``) and one table per event channel (at K)."""
    events = sorted(set(table[table.metric == "step_auprc"].channel) - {"mean"})
    parts = ["Numeric detail, mean over target channels (steps 1..K−1 pooled):\n\n" + summary(table, numeric_ks, NUMERIC)]
    parts += [f"Events `{ch}`, K = {k}:\n\n" + summary(table, (k,), EVENT, ch) for ch in events]
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", help="folder with scores.csv")
    p.add_argument("--k", type=int, default=32)
    args = p.parse_args(argv)
    print(report(pd.read_csv(Path(args.results) / "scores.csv"), args.k))


if __name__ == "__main__":
    main()
