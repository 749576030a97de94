"""Probe runs on disk without pickle: dataclasses and arrays become dicts and tensors, saved with
``torch.save`` and read back with ``weights_only=True``, so a cache file cannot run code.

Example::

    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from tsloop.probe.scores import Prediction
    >>> a = np.zeros((1, 1, 1, 1))
    >>> path = Path(tempfile.mkdtemp()) / "run.pt"
    >>> save_run(Prediction(a, a, a, a), path)
    >>> load_run(path).dense.shape
    (1, 1, 1, 1)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from tsloop.output import atomic_path
from tsloop.probe.evaluate import ProbeRun
from tsloop.probe.latents import ProbeData
from tsloop.probe.scores import Prediction

KINDS = {cls.__name__: cls for cls in (ProbeRun, ProbeData, Prediction)}


def to_plain(value):
    """Tensors, numbers, strings, lists, tuples and dicts only: what ``weights_only`` loads."""
    if dataclasses.is_dataclass(value):
        fields = {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__kind__": type(value).__name__, **fields}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_plain(item) for item in value)
    return value


def from_plain(value):
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return value["__ndarray__"].numpy()
        if "__kind__" in value:
            kind = KINDS[value["__kind__"]]
            return kind(**{k: from_plain(v) for k, v in value.items() if k != "__kind__"})
        return {key: from_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(from_plain(item) for item in value)
    return value


def save_run(run, path: str | Path) -> None:
    """Write a probe run (or any of its parts) atomically."""
    with atomic_path(path) as tmp:
        torch.save(to_plain(run), tmp)


def load_run(path: str | Path):
    return from_plain(torch.load(path, map_location="cpu", weights_only=True))
