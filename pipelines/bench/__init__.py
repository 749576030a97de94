"""Benchmarks of tsloop against peers run side by side (see RESULTS.md)."""
