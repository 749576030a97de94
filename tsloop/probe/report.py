"""Probe results as tables, plots and the metrics of an MLflow run.

Example (an untrained tiny model on a small simulated fleet; the run goes to the MLflow store,
``./mlruns`` or ``$TSLOOP_MLRUNS``)::

    >>> import tempfile
    >>> from tsloop.data.spec import TaskSpec
    >>> from tsloop.model import ModelConfig, WorldModel
    >>> from tsloop.probe.evaluate import probe_model, score_runs
    >>> from tsloop.tracking.record import log_result
    >>> spec = TaskSpec(name="fleet", source={"loader": "plant", "series": 2, "steps": 800, "step_minutes": 15},
    ...                 target=["cpu_util", "latency_p95"], event=["slo_breach"], freq="15min",
    ...                 context_length=32, horizon=8, series_id="series")
    >>> model = WorldModel(ModelConfig.for_task("tiny", spec))
    >>> runs = [probe_model(model, spec, k_max=4, families=("ridge", "head"), strides=(8, 8, 8),
    ...                     log=lambda line: None)]
    >>> table = score_runs(runs, ks=(2, 4), reps=20)
    >>> table.insert(0, "model", "tiny")
    >>> print(markdown(table, "dense_r2"))
    | model | latents | probe | K=2 | K=4 |
    |---|---|---|---|---|
    | tiny | imagined | head | ... | ... |
    | tiny | imagined | ridge | ... | ... |
    >>> paths = plot_vs_k(table, tempfile.mkdtemp())         # one PNG per headline metric
    >>> paths[0].name
    'dense_r2_mean.png'
    >>> run_id = log_result("tsloop-probe", "probe", params={"k": (2, 4)}, metrics=flat_metrics(table),
    ...                     artifacts=paths)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# metric -> (channel shown, plain title); "mean" = mean over channels
HEADLINE = {
    "dense_r2": ("mean", "dense detail: R² of every target (scaled units; log space for heavy-tailed channels)"),
    "dense_r2_raw": ("mean", "dense detail: R² of every target (data units)"),
    "detail_r2": ("mean", "high-frequency detail: R² after removing a moving-average trend"),
    "step_auprc": (None, "event at each step: AUPRC"),
    "step_recall": (None, "event at each step: recall at 1% false alarms"),
    "win_auprc": (None, "event anywhere in the window: AUPRC"),
    "win_recall": (None, "event anywhere in the window: recall at 1% false alarms"),
    "timing_mae": (None, "first-event step: mean absolute error (time steps)"),
    "timing_within1": (None, "first-event step: share within ±1 time step"),
}
BASELINE = {"step_auprc": "step_base", "win_auprc": "win_base", "timing_mae": "timing_const_mae"}
ROW = ["model", "mode", "family"]


def _cell(row) -> str:
    if pd.isna(row["mean"]):
        return "–"
    return f"{row['mean']:.3f} [{row['lo']:.3f}, {row['hi']:.3f}]"


def markdown(table: pd.DataFrame, metric: str, channel: str = "mean") -> str:
    """One metric as a markdown table: a row per (model, latents, probe), a column per K."""
    part = table[(table.metric == metric) & (table.channel == channel)].copy()
    if part.empty:
        return ""
    part["cell"] = part.apply(_cell, axis=1)
    wide = part.pivot_table(index=ROW, columns="K", values="cell", aggfunc="first")
    base = BASELINE.get(metric)
    lines = ["| model | latents | probe | " + " | ".join(f"K={k}" for k in wide.columns) + " |",
             "|" + "---|" * (3 + len(wide.columns))]
    for idx, row in wide.iterrows():
        lines.append("| " + " | ".join(idx) + " | " + " | ".join(str(v) for v in row.values) + " |")
    if base:
        b = table[(table.metric == base) & (table.channel == channel)]
        b = b.groupby("K")["mean"].mean()
        name = "best constant" if metric == "timing_mae" else "base rate (chance AUPRC)"
        lines.append(f"| *{name}* | | | " + " | ".join(f"{b.get(k, float('nan')):.3f}" for k in wide.columns) + " |")
    return "\n".join(lines)


def plot_vs_k(table: pd.DataFrame, out_dir: str | Path, title: str = "") -> list[Path]:
    """Score vs K per headline metric: one panel per probe family, one line per model and latents."""
    from tsloop.plots import plt, save_figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for metric, (channel, label) in HEADLINE.items():
        channels = [channel] if channel else sorted(set(table[table.metric == metric].channel) - {"mean"})
        for ch in channels:
            part = table[(table.metric == metric) & (table.channel == ch)]
            if part.empty:
                continue
            families = list(dict.fromkeys(part.family))
            fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.4), sharey=True, squeeze=False)
            for ax, family in zip(axes[0], families):
                for (model, mode), line in part[part.family == family].groupby(["model", "mode"], sort=False):
                    line = line.sort_values("K")
                    err = [(line["mean"] - line["lo"]).clip(lower=0).fillna(0),
                           (line["hi"] - line["mean"]).clip(lower=0).fillna(0)]
                    ax.errorbar(line["K"], line["mean"], yerr=err, marker="o", capsize=3,
                                ls="--" if mode == "teacher" else "-", label=f"{model} ({mode})")
                base = BASELINE.get(metric)
                if base:
                    b = table[(table.metric == base) & (table.channel == ch)].groupby("K")["mean"].mean()
                    ax.plot(b.index, b.values, color="grey", ls=":", label="chance / constant")
                ax.set_xscale("log", base=2)
                ax.set_xlabel("K (outer steps; pooled over h_1..h_{K-1})")
                ax.set_title(family)
                ax.grid(alpha=0.3)
            axes[0][0].set_ylabel(f"{metric} ({ch})")
            axes[0][-1].legend(fontsize=7)
            fig.suptitle(f"{title}{label}" + ("" if ch == "mean" else f" — {ch}"), fontsize=9)
            fig.tight_layout()
            paths.append(save_figure(fig, out_dir / f"{metric}_{ch}.png", dpi=110))
    return paths


def plot_steps(curves: pd.DataFrame, out_dir: str | Path, title: str = "") -> Path:
    """Per-step scores of h_k alone (channel means), one panel per metric, line per model/latents/probe."""
    from tsloop.plots import plt, save_figure

    metrics = ["dense_r2", "detail_r2", "step_auprc"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 3.6))
    shown = curves[curves.family != "mlp"]  # ridge and head keep the panels readable; the MLP is in the CSV
    keys = list(dict.fromkeys(zip(shown["model"], shown["mode"], shown["family"])))
    color = {key: f"C{i % 10}" for i, key in enumerate(keys)}  # the same colour for a line in every panel
    for ax, metric in zip(axes, metrics):
        part = shown[shown.metric == metric]
        for (model, mode, family), line in part.groupby(["model", "mode", "family"], sort=False):
            ax.plot(line["k"], line["mean"], color=color[(model, mode, family)],
                    ls="--" if mode == "teacher" else ("-" if family == "ridge" else ":"),
                    label=f"{model}/{mode}/{family}")
        if metric == "step_auprc":
            base = curves[curves.metric == "step_base"].groupby("k")["mean"].mean()
            ax.plot(base.index, base.values, color="grey", lw=2, label="base rate")
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("outer step k")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=6)
    fig.suptitle(f"{title}scores of each intermediate latent h_k alone (mean over channels and seeds)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / "per_step.png", dpi=80)  # four wide panels: keeps the file under 200 KB


def flat_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Every score and interval bound as one MLflow metric name -> value (missing cells left out)."""
    metrics = {}
    for row in table.itertuples():
        base = f"{row.model}.{row.mode}.{row.family}.{row.metric}.{row.channel}.K{row.K}"
        for stat in ("mean", "lo", "hi"):
            value = getattr(row, stat)
            if pd.notna(value):
                metrics[f"{base}.{stat}".replace(" ", "_")] = float(value)
    return metrics
