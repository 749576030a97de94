"""Results of forecast and what-if queries: sample paths on the original scale, and tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tsloop.query import overlap
from tsloop.query.objective import UNCHECKED, Effect, Objective

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
    # (B, H, Ci): per series, horizon step and intervention channel, the two-sided tail probability
    # in [0, 1] of the planned control value under the learned logging policy given the (simulated)
    # state, averaged over sample paths; None when the model has no logging-policy model
    control_support: np.ndarray | None = None
    control_mask: np.ndarray | None = None  # (B, H, Ci) True where the request sets the control

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
        qs = np.quantile(self.samples, self.levels, axis=0)  # (Q, B, H, Ct): over the sample paths
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
    # plan -> (B,) support score per series (tsloop.query.overlap.plan_support); empty: not checked
    support: dict[str, np.ndarray] = field(default_factory=dict)

    def effects_frame(self) -> pd.DataFrame:
        """One row per series and pair of plans: the effect B - A shown (tempered where a plan is
        not supported), the model's own P(B better), both plans' support and the pair's flag."""
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

    def plans_support_frame(self) -> pd.DataFrame:
        """One row per series and plan: its support score and label; no rows when not checked."""
        series_ids = next(iter(self.forecasts.values())).series_ids
        rows = [
            {"series_id": sid, "plan": name, "support": float(score[b]), "flag": overlap.label(score[b])}
            for name, score in self.support.items()
            for b, sid in enumerate(series_ids)
        ]
        return pd.DataFrame(rows, columns=["series_id", "plan", "support", "flag"])

    def summary(self) -> str:
        """A few lines a person reads: the objective and support per plan, who wins with intervals,
        and a warning under every effect that rests on a plan outside the training log."""
        lines = [f"objective: {self.objective} ({'lower' if self.objective.goal == 'min' else 'higher'} is better)"]
        first = next(iter(self.forecasts.values()))
        for b, sid in enumerate(first.series_ids):
            lines.append(f"series {sid}:")
            for name, value in self.values.items():
                lo, mid, hi = np.quantile(value[:, b], [0.05, 0.5, 0.95])
                line = f"  {name:<16} median {mid:10.4g}  90% [{lo:.4g}, {hi:.4g}]"
                if name in self.support:
                    score = self.support[name][b]
                    line += f"  support {score:.2g} ({overlap.label(score)})"
                lines.append(line)
            for e in self.effects.get(sid, []):
                lines.append(
                    f"  {e.plan_b} - {e.plan_a}: {e.mean:+.4g} ({e.interval:.0%} [{e.lower:+.4g}, {e.upper:+.4g}]), "
                    f"P({e.plan_b} better) = {e.prob_b_better:.2f}"
                )
                lines.extend(_overlap_warnings(e))
        if not self.support:
            lines.append("overlap: not checked (this model has no logging-policy model; "
                         "retrain it with this version of tsloop)")
        return "\n".join(lines)


def _overlap_warnings(e: Effect) -> list[str]:
    """A line per plan of the pair that is not supported, saying what that does to the answer."""
    out = []
    for name, score in ((e.plan_a, e.support_a), (e.plan_b, e.support_b)):
        if e.flag == UNCHECKED or overlap.label(score) == "supported":
            continue
        if overlap.label(score) == "unsupported":
            where, rests = "outside", "rests on extrapolation"
        else:
            where, rests = "at the edge of", "rests partly on extrapolation"
        out.append(
            f"  ! plan {name!r} is {where} what the training log shows the operator doing in this state "
            f"(support {score:.2g}): the effect {rests}; P(better) is shown tempered toward 0.5 and its "
            f"interval widened (model: {e.prob_b_better_model:.2f})."
        )
    return out
