"""Known-harmless third-party noise is silenced on the command line; tsloop's own warnings are not."""

from __future__ import annotations

import logging
import warnings

from tsloop.quiet import silence_known_noise


def test_when_silenced_then_known_noise_is_dropped_and_other_warnings_still_show():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        silence_known_noise()
        warnings.warn("The number of training batches (3) is smaller than the logging interval", UserWarning)
        warnings.warn("\x1b[33mAn input example was not provided when logging the model.", UserWarning)
        warnings.warn("possible leakage: 'x' equals 'y' shifted", UserWarning)
    assert [str(w.message) for w in caught] == ["possible leakage: 'x' equals 'y' shifted"]
    assert logging.getLogger("lightning.pytorch.utilities.rank_zero").getEffectiveLevel() >= logging.WARNING
