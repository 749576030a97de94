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
# loggers whose INFO lines are notices, not results: hardware summary, tips, store creation
NOTICE_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.pytorch.accelerators.cuda",
    "mlflow.store.db.utils",
    "alembic.runtime.migration",
)


def silence_known_noise() -> None:
    """Install the filters above (call inside ``warnings.catch_warnings()`` to scope them)."""
    for message, category, _why in WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name in NOTICE_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # its only warning is "Experiment ... not found. Creating it.": the first run of an experiment
    logging.getLogger("lightning.pytorch.loggers.mlflow").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
