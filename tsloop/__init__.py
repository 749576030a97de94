"""tsloop: looped latent world models for multivariate telemetry.

Forecast what happens next, and ask what would happen under another plan of
interventions, with uncertainty.
"""

__version__ = "0.1.0"
