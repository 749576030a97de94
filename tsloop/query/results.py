"""Results of forecast and what-if queries: sample paths on the original scale, and tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tsloop.query.objective import Effect, Objective

DEFAULT_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
NUM_SAMPLES = 200  # joint sample paths per query unless the caller asks otherwise


@dataclass
class ForecastResult:
    """Joint sample paths for the next ``horizon`` steps of each requested series."""

    series_ids: list[str]
    timestamps: list  # per series: (H,) pandas datetimes or step numbers
    targets: list[str]
    events: list[str]
    samples: np.ndarray  # (S, B, H, Ct) original units
    event_samples: np.ndarray  # (S, B, H, Ce) in {0, 1}
    event_prob: np.ndarray  # (B, H, Ce) the model's per-step event probability
    levels: tuple[float, ...] = DEFAULT_LEVELS

    def quantile(self, level: float) -> np.ndarray:
        """Empirical quantile of the sample paths: (B, H, Ct)."""
        return np.quantile(self.samples, level, axis=0)

    def quantiles_of(self, channel: str, series: int = 0) -> dict[float, np.ndarray]:
        """{level: (H,)} for one target channel of one series."""
        c = self.targets.index(channel)
        return {q: np.quantile(self.samples[:, series, :, c], q, axis=0) for q in self.levels}

    def paths(self, series: int = 0) -> dict[str, np.ndarray]:
        """Channel name -> (S, H) sample paths of one series, targets and events."""
        out = {name: self.samples[:, series, :, c] for c, name in enumerate(self.targets)}
        out.update({name: self.event_samples[:, series, :, e] for e, name in enumerate(self.events)})
        return out

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per series, step and channel; quantile columns ``q0.05`` ...;
        event channels carry ``prob`` (per-step probability) instead."""
        qs = np.quantile(self.samples, self.levels, axis=1)  # (Q, B, H, Ct)
        mean = self.samples.mean(axis=0)
        rows = []
        for b, sid in enumerate(self.series_ids):
            for h, ts in enumerate(self.timestamps[b]):
                base = {"series_id": sid, "timestamp": ts, "step": h + 1}
                for c, name in enumerate(self.targets):
                    row = {**base, "channel": name, "kind": "target", "mean": mean[b, h, c]}
                    row.update({f"q{q:g}": qs[i, b, h, c] for i, q in enumerate(self.levels)})
                    rows.append(row)
                for e, name in enumerate(self.events):
                    rows.append({**base, "channel": name, "kind": "event", "prob": self.event_prob[b, h, e]})
        return pd.DataFrame(rows)


@dataclass
class WhatIfResult:
    """Per plan: a forecast under that plan; per pair of plans: the effect on the objective."""

    forecasts: dict[str, ForecastResult]
    objective: Objective
    values: dict[str, np.ndarray]  # plan -> (S, B) objective value per path and series
    effects: dict[str, list[Effect]] = field(default_factory=dict)  # series id -> pairwise effects

    def effects_frame(self) -> pd.DataFrame:
        rows = [
            {"series_id": sid, "objective": str(self.objective), **effect.as_row()}
            for sid, effects in self.effects.items()
            for effect in effects
        ]
        return pd.DataFrame(rows)

    def plans_frame(self) -> pd.DataFrame:
        """Every plan's forecast table, with a ``plan`` column."""
        return pd.concat(
            [f.to_frame().assign(plan=name) for name, f in self.forecasts.items()], ignore_index=True
        )

    def summary(self) -> str:
        """A few lines a person reads: the objective per plan and who wins, with intervals."""
        lines = [f"objective: {self.objective} ({'lower' if self.objective.goal == 'min' else 'higher'} is better)"]
        first = next(iter(self.forecasts.values()))
        for b, sid in enumerate(first.series_ids):
            lines.append(f"series {sid}:")
            for name, value in self.values.items():
                lo, mid, hi = np.quantile(value[:, b], [0.05, 0.5, 0.95])
                lines.append(f"  {name:<16} median {mid:10.4g}  90% [{lo:.4g}, {hi:.4g}]")
            for e in self.effects.get(sid, []):
                lines.append(
                    f"  {e.plan_b} - {e.plan_a}: {e.mean:+.4g} ({e.interval:.0%} [{e.lower:+.4g}, {e.upper:+.4g}]), "
                    f"P({e.plan_b} better) = {e.prob_b_better:.2f}"
                )
        return "\n".join(lines)
