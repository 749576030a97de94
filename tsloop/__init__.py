"""tsloop: looped latent world models for multivariate telemetry.

Forecast what happens next, and ask what would happen under another plan of
interventions, with uncertainty.
"""

from tsloop.version import __version__

__all__ = ["Forecaster", "__version__"]


def __getattr__(name: str):
    """``from tsloop import Forecaster`` without importing torch and Lightning for ``tsloop --help``."""
    if name == "Forecaster":
        from tsloop.forecaster import Forecaster

        return Forecaster
    raise AttributeError(f"module 'tsloop' has no attribute {name!r}")
