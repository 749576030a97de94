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
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    notice = logging.LogRecord(rank_zero.name, logging.INFO, "", 0, "GPU available: False, used: False", None, None)
    banner = logging.LogRecord(rank_zero.name, logging.INFO, "", 0, "Starting with 2 processes", None, None)
    echo = logging.LogRecord(rank_zero.name, logging.INFO, "", 0, "`Trainer(limit_val_batches=1.0)` was configured so "
                             "100% of the batches will be used..", None, None)
    limit = logging.LogRecord(rank_zero.name, logging.INFO, "", 0, "`Trainer(limit_val_batches=1)` was configured so "
                              "1 batch will be used.", None, None)
    assert not rank_zero.filter(notice) and rank_zero.filter(banner)
    assert not rank_zero.filter(echo) and rank_zero.filter(limit)  # a limit the user set stays visible
