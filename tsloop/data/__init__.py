"""The typed telemetry data layer: task specs, readers, validation, scaling, splits, windows."""
