"""How many CPU threads torch gets for training.

Small looped models run many small matrix products, and OpenMP threads that wait for a core
held by another process stall every one of them: on 2 cores with another job running, 2 threads
took 85 s where 1 thread took 14–21 s for the same 100 steps. So the automatic choice counts
only the cores that are idle now (from the 1-minute load average), never fewer than one.
"""

from __future__ import annotations

import os

import torch


def auto_threads() -> int:
    """Cores left idle by other processes (cpu count - 1-minute load average), at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = os.getloadavg()[0]
    except OSError:  # not available on this platform
        busy = 0.0
    return max(1, min(cores, int(cores - busy + 0.5)))


def set_threads(threads: int) -> int:
    """Set torch's intra-op threads (``threads`` > 0, or 0 for ``auto_threads()``); returns the count."""
    count = threads if threads > 0 else auto_threads()
    torch.set_num_threads(count)
    return count
