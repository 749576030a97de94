"""What a user wants to compare plans on: an aggregate of one channel over the horizon.

Written as ``AGG:CHANNEL[:GOAL]``, for example ``mean:latency_p95`` (lower is
better), ``sum:power_kw``, ``any:slo_breach`` (probability of at least one event),
``mean:throughput:max`` (higher is better).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, replace

import numpy as np

from tsloop.errors import PlanError
from tsloop.query import overlap

AGGREGATES = {
    "mean": lambda x: x.mean(axis=-1),
    "sum": lambda x: x.sum(axis=-1),
    "max": lambda x: x.max(axis=-1),
    "min": lambda x: x.min(axis=-1),
    "last": lambda x: x[..., -1],
    "any": lambda x: (x > 0.5).any(axis=-1).astype(float),
    "count": lambda x: (x > 0.5).sum(axis=-1).astype(float),
}
GOALS = ("min", "max")
UNCHECKED = "unchecked"  # the flag of an effect whose plans' support the model could not score


@dataclass(frozen=True)
class Objective:
    aggregate: str
    channel: str
    goal: str = "min"  # which direction is better

    @classmethod
    def parse(cls, text: str, targets: list[str], events: list[str]) -> "Objective":
        parts = text.split(":")
        if len(parts) not in (2, 3):
            raise PlanError(
                f"objective {text!r} is not of the form AGG:CHANNEL[:min|max]; "
                f"for example 'mean:{(targets or events)[0]}'"
            )
        aggregate, channel = parts[0], parts[1]
        goal = parts[2] if len(parts) == 3 else "min"
        if aggregate not in AGGREGATES:
            raise PlanError(f"objective {text!r}: unknown aggregate {aggregate!r}; use one of {sorted(AGGREGATES)}")
        known = list(targets) + list(events)
        if channel not in known:
            close = difflib.get_close_matches(channel, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise PlanError(
                f"objective {text!r}: channel {channel!r} is neither a target nor an event channel "
                f"(targets: {targets}, events: {events}).{hint}"
            )
        if goal not in GOALS:
            raise PlanError(f"objective {text!r}: goal must be 'min' or 'max', got {goal!r}")
        return cls(aggregate, channel, goal)

    def evaluate(self, paths: dict[str, np.ndarray]) -> np.ndarray:
        """Objective value per sample path; ``paths[channel]`` is (S, H) on the original scale."""
        return AGGREGATES[self.aggregate](paths[self.channel])

    def __str__(self) -> str:
        return f"{self.aggregate}:{self.channel}:{self.goal}"


@dataclass(frozen=True)
class Effect:
    """The distribution of ``value(B) - value(A)`` over common-random-number paths.

    ``lower``, ``upper`` and ``prob_b_better`` are the answer shown: when the plans' support was
    checked, tempered by :mod:`tsloop.query.overlap` (a guard against plans outside the training
    log); ``prob_b_better_model`` is the model's own probability. ``flag`` is the worse of the two
    plans' labels ('supported', 'weak', 'unsupported'), or 'unchecked' when the model could not
    score support; unchecked supports stay at 1.0, the value that tempers nothing, and a row
    (``as_row``) leaves them empty.
    """

    plan_a: str
    plan_b: str
    mean: float
    lower: float
    upper: float
    prob_b_better: float
    interval: float
    support_a: float = 1.0
    support_b: float = 1.0
    prob_b_better_model: float | None = None  # None: the same as prob_b_better (nothing tempered)
    flag: str = UNCHECKED

    def __post_init__(self) -> None:
        if self.prob_b_better_model is None:
            object.__setattr__(self, "prob_b_better_model", self.prob_b_better)

    def as_row(self) -> dict[str, float | str]:
        checked = self.flag != UNCHECKED
        return {
            "plan_a": self.plan_a,
            "plan_b": self.plan_b,
            "effect_mean": self.mean,
            f"effect_q{(1 - self.interval) / 2:.3f}": self.lower,
            f"effect_q{(1 + self.interval) / 2:.3f}": self.upper,
            "prob_b_better": self.prob_b_better,
            "prob_b_better_model": self.prob_b_better_model,
            "support_a": self.support_a if checked else math.nan,
            "support_b": self.support_b if checked else math.nan,
            "flag": self.flag,
        }


def prob_better(diff: np.ndarray, goal: str) -> float:
    """P(plan b beats plan a) from paired differences b - a; ties (identical paths) count half,
    so identical plans give 0.5, not 0. ``goal`` is 'min' or 'max'."""
    better = diff < 0 if goal == "min" else diff > 0
    return float(better.mean() + 0.5 * (diff == 0).mean())


def pairwise_effects(
    values: dict[str, np.ndarray], objective: Objective, interval: float = 0.9,
    support: dict[str, float] | None = None,
) -> list[Effect]:
    """Effects of every plan against every earlier plan, path by path (values are (S,) each).

    ``support``: plan -> support score for this series (``overlap.plan_support``); when given, each
    pair's interval and P(B better) are tempered by ``overlap.widen`` and ``overlap.temper`` and
    the pair is flagged; when None, the effects are the model's, flagged 'unchecked'.
    """
    names = list(values)
    effects = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            diff = values[b] - values[a]
            prob = prob_better(diff, objective.goal)
            lo, hi = np.quantile(diff, [(1 - interval) / 2, (1 + interval) / 2])
            effect = Effect(a, b, float(diff.mean()), float(lo), float(hi), prob, interval)
            if support is not None:
                effect = _tempered(effect, float(support[a]), float(support[b]))
            effects.append(effect)
    return effects


def _tempered(effect: Effect, support_a: float, support_b: float) -> Effect:
    lower, upper = overlap.widen(effect.mean, effect.lower, effect.upper, support_a, support_b)
    return replace(
        effect, lower=float(lower), upper=float(upper),
        prob_b_better=overlap.temper(effect.prob_b_better, support_a, support_b),
        support_a=support_a, support_b=support_b, prob_b_better_model=effect.prob_b_better,
        flag=overlap.worse(overlap.label(support_a), overlap.label(support_b)),
    )
