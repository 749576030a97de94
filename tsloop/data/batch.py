"""The batch contract between the data layer and the model.

Every window batch carries *all* of these keys, always, with fixed shapes; a role
with no channels has a zero-width last dimension. Values are scaled (train
statistics); missing values are zero-filled and flagged in the matching mask.

    B = batch size, L = context length, H = horizon
    Ct targets, Cp past-only exogenous, Ck known-future exogenous,
    Ci interventions (controls), Ce event labels, Cs statics
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# key -> (time axis, role); time axis is "past" (L), "future" (H) or None.
BATCH_KEYS: dict[str, tuple[str | None, str]] = {
    "past_target": ("past", "target"),  # (B, L, Ct)
    "past_target_mask": ("past", "target"),  # (B, L, Ct) 1 = observed
    "future_target": ("future", "target"),  # (B, H, Ct)
    "future_target_mask": ("future", "target"),  # (B, H, Ct)
    "past_exog": ("past", "past_exog"),  # (B, L, Cp) past-only exogenous
    "past_known": ("past", "known_future"),  # (B, L, Ck)
    "future_known": ("future", "known_future"),  # (B, H, Ck)
    "past_control": ("past", "intervention"),  # (B, L, Ci)
    "past_control_mask": ("past", "intervention"),  # (B, L, Ci) 1 = value given
    "future_control": ("future", "intervention"),  # (B, H, Ci)
    "future_control_mask": ("future", "intervention"),  # (B, H, Ci)
    "past_event": ("past", "event"),  # (B, L, Ce) in {0, 1}
    "future_event": ("future", "event"),  # (B, H, Ce) in {0, 1}
    "static": (None, "static"),  # (B, Cs)
}
INDEX_KEYS = ("series_index", "window_start")  # (B,) int64 each


@dataclass(frozen=True)
class ChannelDims:
    """How many channels of each role a task has; the model is built from this."""

    target: int
    past_exog: int = 0
    known_future: int = 0
    intervention: int = 0
    event: int = 0
    static: int = 0

    def width(self, role: str) -> int:
        return int(getattr(self, role))


def empty_batch(dims: ChannelDims, batch: int, context: int, horizon: int) -> dict[str, torch.Tensor]:
    """A zero batch with the contract's keys and shapes (masks all observed); for tests and tracing."""
    out: dict[str, torch.Tensor] = {}
    for key, (axis, role) in BATCH_KEYS.items():
        width = dims.width(role)
        if axis is None:
            shape = (batch, width)
        else:
            shape = (batch, context if axis == "past" else horizon, width)
        fill = 1.0 if key.endswith("_mask") else 0.0
        out[key] = torch.full(shape, fill)
    out["series_index"] = torch.zeros(batch, dtype=torch.long)
    out["window_start"] = torch.zeros(batch, dtype=torch.long)
    return out
