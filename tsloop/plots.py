"""Plots logged with runs: learning curves, forecast fan charts, what-if comparisons."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def learning_curves(client, run_id: str, path: Path) -> Path:
    """Train and validation loss per epoch from the run's metric history."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in ("train/loss", "val/loss"):
        history = client.get_metric_history(run_id, key)
        if history:
            ax.plot([m.step for m in history], [m.value for m in history], marker="o", ms=3, label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.set_title("learning curves")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def fan(ax, steps: np.ndarray, quantiles: dict[float, np.ndarray], color: str, label: str) -> None:
    """Median line with 50 % and 90 % bands from a {level: values} dict."""
    levels = sorted(quantiles)
    pairs = [(lo, hi) for lo, hi in ((0.05, 0.95), (0.25, 0.75)) if lo in quantiles and hi in quantiles]
    for alpha, (lo, hi) in zip((0.15, 0.3), pairs):
        ax.fill_between(steps, quantiles[lo], quantiles[hi], color=color, alpha=alpha, lw=0)
    mid = min(levels, key=lambda q: abs(q - 0.5))
    ax.plot(steps, quantiles[mid], color=color, lw=1.5, label=label)


def fan_chart(forecaster, task, path: Path, part: str = "val", channels: int = 3) -> Path:
    """Forecast fan chart for the first window of ``part`` of the task's first series."""
    from tsloop.query.frames import example_window, needs_future

    history, future, truth = example_window(task, part)
    future = future if needs_future(task.spec) else None
    result = forecaster.forecast(history, future, quantiles=(0.05, 0.25, 0.5, 0.75, 0.95), num_samples=200)
    names = forecaster.spec.target[:channels]
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.2 * len(names)), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        context = history[name].to_numpy()[-3 * len(truth) :]
        steps_past = np.arange(-len(context), 0)
        ax.plot(steps_past, context, color="k", lw=1)
        steps = np.arange(len(truth))
        ax.plot(steps, truth[name].to_numpy(), color="k", lw=1, ls="--", label="actual")
        fan(ax, steps, result.quantiles_of(name), "tab:blue", "forecast")
        ax.set_ylabel(name)
    axes[0, 0].legend(loc="upper left")
    axes[-1, 0].set_xlabel("steps from forecast origin")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def bar_chart(labels, values, metric: str, path: Path) -> Path:
    """One bar per run for a metric."""
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(values)), 3.5))
    ax.bar(range(len(values)), values)
    ax.set_xticks(range(len(values)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
