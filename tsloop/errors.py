"""User-facing errors. Each message says what is wrong, where, and how to fix it.

The CLI turns any ``TsloopError`` into a one-paragraph message and exit code 2,
never a traceback.
"""


class TsloopError(Exception):
    """Base class for errors caused by user input (data, task files, plans, checkpoints)."""


class SpecError(TsloopError):
    """A task specification (YAML, flags or Python) is invalid."""


class DataError(TsloopError):
    """The telemetry data does not satisfy the task specification."""


class PlanError(TsloopError):
    """A plan of interventions for a what-if query is invalid."""


class CheckpointError(TsloopError):
    """A checkpoint is missing, corrupted, or belongs to another configuration."""


class TrainingDivergedError(TsloopError):
    """The loss or a gradient became non-finite during training."""
