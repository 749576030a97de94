"""Probes of the intermediate latents of deferred rollouts (LOOPWM.md, "the probe question").

``latents`` collects h_1..h_K and their targets, ``probes`` fits ridge and MLP probes,
``scores`` scores them per K with bootstrap intervals, ``evaluate`` composes one model's
probe run, ``report`` writes tables, plots and the MLflow run. CLI: ``tsloop probe``;
several models and seeds: ``pipelines/probe/run.py``.
"""
