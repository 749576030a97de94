"""Plots logged with runs: learning curves, forecast fan charts, what-if comparisons."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def learning_curves(client, run_id: str, path: Path) -> Path:
    """Training loss per logging interval and per epoch, and validation loss per check, from the
    run's metric history (x: optimizer step)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    styles = {"train/step_loss": dict(lw=0.8, alpha=0.6), "train/loss": dict(marker="o", ms=3),
              "val/loss": dict(marker="o", ms=3)}
    for key, style in styles.items():
        history = client.get_metric_history(run_id, key)
        if history:
            ax.plot([m.step for m in history], [m.value for m in history], label=key, **style)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.set_title("learning curves")
    fig.tight_layout()
    return save_figure(fig, path)


BANDS = ((0.05, 0.95, 0.15, "90% band"), (0.25, 0.75, 0.3, "50% band"))  # (low, high, alpha, label)


def fan(ax, steps: np.ndarray, quantiles: dict[float, np.ndarray], color: str, label: str, bands: bool = False) -> None:
    """Median line with 50 % and 90 % bands from a {level: values} dict; ``bands`` names the bands
    in the legend (once per axis is enough)."""
    for lo, hi, alpha, name in BANDS:
        if lo in quantiles and hi in quantiles:
            ax.fill_between(steps, quantiles[lo], quantiles[hi], color=color, alpha=alpha, lw=0,
                            label=f"{label} {name}" if bands else None)
    mid = min(quantiles, key=lambda q: abs(q - 0.5))
    ax.plot(steps, quantiles[mid], color=color, lw=1.5, label=f"{label} median")


def robust_limits(values: np.ndarray, share: float = 0.98, pad: float = 0.15) -> tuple[float, float]:
    """The central ``share`` of ``values`` widened by ``pad`` of its width: a spike cannot flatten the rest."""
    finite = values[np.isfinite(values)]
    lo, hi = np.quantile(finite, [(1 - share) / 2, (1 + share) / 2]) if finite.size else (0.0, 1.0)
    width = (hi - lo) or abs(hi) or 1.0
    return float(lo - pad * width), float(hi + pad * width)


def fan_chart(model_and_data, task, path: Path, part: str = "val", channels: int = 3, scale: str = "auto") -> Path:
    """Forecast fan chart for the first window of ``part`` of the task's first series.

    ``model_and_data``: anything with ``model``, ``spec``, ``scaler`` and ``meta`` (a loaded
    model file or a Forecaster). ``scale``: ``robust`` (the y axis holds the central 90 % of what
    is drawn, so a spike cannot flatten the forecast), ``log`` (symlog axis), ``linear``, or
    ``auto``: log for channels the model reads in log space (``log``/``log1p`` transforms), else robust.
    """
    from tsloop.query.forecast import forecast
    from tsloop.query.frames import example_window, needs_future
    from tsloop.query.loading import range_margin

    m = model_and_data
    history, future, truth = example_window(task, part)
    future = future if needs_future(task.spec) else None
    result = forecast(m.model, m.spec, m.scaler, history, future, quantiles=(0.05, 0.25, 0.5, 0.75, 0.95),
                      range_margin=range_margin(m.meta))
    names = m.spec.target[:channels]
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.4 * len(names)), squeeze=False)
    for i, (ax, name) in enumerate(zip(axes[:, 0], names)):
        context = history[name].to_numpy(dtype=float)[-3 * len(truth) :]
        steps_past = np.arange(-len(context), 0)
        ax.plot(steps_past, context, color="k", lw=1, label="history")
        steps = np.arange(len(truth))
        actual = truth[name].to_numpy(dtype=float)
        ax.plot(steps, actual, color="k", lw=1, ls="--", label="actual")
        quantiles = result.quantiles_of(name)
        fan(ax, steps, quantiles, "tab:blue", "forecast", bands=i == 0)
        ax.axvline(0, color="grey", lw=0.8, ls=":")
        unit = m.spec.transforms.get(name)
        ax.set_ylabel(name + (f"\n(data units; {unit} in the model)" if unit else "\n(data units)"), fontsize=8)
        chosen = ("log" if unit in ("log", "log1p") else "robust") if scale == "auto" else scale
        if chosen == "log":
            # log1p is near-linear below 1; log data are positive: linear up to their small values
            positive = np.abs(context[np.abs(context) > 0])
            small = float(np.quantile(positive, 0.1)) if positive.size else 1.0
            ax.set_yscale("symlog", linthresh=1.0 if unit == "log1p" else max(small, 1e-6))
            ax.set_ylim(bottom=0)  # both transforms are for non-negative channels
        elif chosen == "robust":
            ax.set_ylim(*robust_limits(np.concatenate([context, actual, *quantiles.values()]), share=0.9))
    axes[0, 0].legend(loc="upper left", fontsize=7, ncol=3)
    axes[0, 0].set_title(f"{m.spec.name}: forecast from the first {part} window, series 0", fontsize=9)
    axes[-1, 0].set_xlabel("steps from forecast origin")
    fig.tight_layout()
    save_figure(fig, path)
    return path


def save_figure(fig, path: Path, dpi: int = 100) -> Path:
    """Save atomically (temporary file, then rename) and close the figure."""
    from tsloop.output import atomic_path

    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path


def bar_chart(labels, values, metric: str, path: Path) -> Path:
    """One bar per run for a metric."""
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(values)), 3.5))
    ax.bar(range(len(values)), values)
    ax.set_xticks(range(len(values)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    fig.tight_layout()
    return save_figure(fig, path)
