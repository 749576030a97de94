"""Forecast and what-if queries on a trained world model."""
