"""Learning-rate schedules over a step budget.

``cosine``: a linear warm-up over the first ``WARMUP`` share of the steps, then a half cosine down
to ``FLOOR`` times the base rate at the last step. A constant rate leaves the last checkpoints as
noisy as the first; decaying it lets the budget's final steps settle.
"""

from __future__ import annotations

import math

from tsloop.errors import SpecError

SCHEDULES = ("constant", "cosine")
WARMUP = 0.05  # share of the steps spent warming up
FLOOR = 0.1  # the rate at the last step, as a share of the base rate


def lr_factor(schedule: str, step: int, total: int) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based) of ``total``."""
    if schedule == "constant":
        return 1.0
    if schedule != "cosine":
        raise SpecError(f"lr_schedule must be one of {SCHEDULES}, got {schedule!r}")
    total = max(int(total), 1)
    warmup = max(1, int(WARMUP * total))
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))
