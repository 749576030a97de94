"""Third-party warnings and notices that the project knows are harmless, silenced for the
command line so that what it prints is tsloop's own report (the library leaves the user's
warning filters alone).

Each entry says why it is harmless here.
"""

from __future__ import annotations

import logging
import os
import warnings

# (message regex, category, why it is harmless)
WARNINGS = (
    (r".*does not have many workers", Warning, "small telemetry windows: loading in the main process is not the bottleneck"),
    (r"The number of training batches .* is smaller than the logging interval", Warning,
     "metrics are logged per epoch, not per logging interval"),
    (r".*isinstance\(treespec, LeafSpec\)", Warning, "Lightning internals, fixed upstream"),
    (r"`torch.jit.script` is deprecated", Warning, "raised inside a dependency, not by tsloop"),
    (r".*The ``noload`` loader strategy is deprecated", Warning, "MLflow's SQL store internals"),
    (r".*Add type hints to the `predict` method", Warning, "the pyfunc input columns differ per task"),
    (r".*An input example was not provided", Warning, "the pyfunc input columns differ per task"),
    (r".*Checkpoint directory .* exists and is not empty", Warning, "--resume writes into the folder on purpose"),
)
# Lightning's notices that are not results (its distributed banner stays: it tells a DDP user
# that the processes started)
NOTICES = ("GPU available", "TPU available", "HPU available", "💡 Tip", "You are using a CUDA device")
# ... and its echo of a batch limit left at the default 1.0 ("100% of the batches will be used")
DEFAULT_ECHOES = ("was configured so 100% of the batches",)
# loggers whose INFO lines are store housekeeping
HOUSEKEEPING_LOGGERS = ("mlflow.store.db.utils", "alembic.runtime.migration")


class _DropNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.getMessage()).lstrip()
        return not (message.startswith(NOTICES) or any(echo in message for echo in DEFAULT_ECHOES))


_DROP = _DropNotices()


def silence_known_noise() -> None:
    """Install the filters above (call inside ``warnings.catch_warnings()`` to scope them)."""
    for message, category, _why in WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if _DROP not in rank_zero.filters:
        rank_zero.addFilter(_DROP)
    for name in HOUSEKEEPING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # its only warning is "Experiment ... not found. Creating it.": the first run of an experiment
    logging.getLogger("lightning.pytorch.loggers.mlflow").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
