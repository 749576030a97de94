"""The pretraining corpus of issue #16: real training parts, simulators and synthetic generators (corpus.py)."""
