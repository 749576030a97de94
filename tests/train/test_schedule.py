"""Learning-rate schedules: warm-up, cosine decay to the floor, validation, and the optimizer wiring."""

from __future__ import annotations

import pytest

from tsloop.errors import SpecError
from tsloop.train.config import TrainConfig
from tsloop.train.schedule import FLOOR, WARMUP, lr_factor


def test_constant_keeps_the_base_rate():
    assert {lr_factor("constant", s, 100) for s in range(100)} == {1.0}


def test_cosine_warms_up_peaks_then_decays_monotonically_to_the_floor():
    total = 1000
    factors = [lr_factor("cosine", s, total) for s in range(total)]
    warmup = int(WARMUP * total)
    assert factors[0] == pytest.approx(1 / warmup) and factors[warmup - 1] == pytest.approx(1.0)
    decay = factors[warmup:]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert decay[0] == pytest.approx(1.0) and factors[-1] == pytest.approx(FLOOR, abs=1e-4)
    assert lr_factor("cosine", 5000, total) == pytest.approx(FLOOR)  # past the budget: stays at the floor


def test_an_unknown_schedule_is_refused_with_the_choices():
    with pytest.raises(SpecError, match="constant.*cosine"):
        TrainConfig(lr_schedule="linear")
