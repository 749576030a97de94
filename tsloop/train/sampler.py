"""The training order: one permutation per (seed, epoch), sharded across DDP ranks by the sampler
itself, so no wrapper of Lightning's stands between the trainer and the epoch or the resume point.

Why not Lightning's ``DistributedSamplerWrapper``: for training it re-shuffles the wrapped
sampler's list with a permutation of its own (Lightning's global seed and the epoch), so the order
was not tsloop's; and it permutes positions over the sampler's full length, so the list a resume
shortens by its skip was read at the wrong positions, and a run resumed mid-epoch trained on other
windows than the interrupted one would have (``tests/train/test_ddp_order.py`` shows it). ``fit``
therefore sets ``use_distributed_sampler=False`` and hands the rank and world size here.
"""

from __future__ import annotations

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[int]):
    """The indices of ``rank`` out of ``world`` ranks: the global order (a permutation drawn from
    (seed, epoch), or 0..size-1 when ``shuffle`` is False) padded by its own head to a multiple of
    ``world``, then every ``world``-th index from ``rank``, as ``DistributedSampler`` shards.

    ``skip``: indices of this rank already trained on in epoch ``skip_epoch`` by the run being
    resumed; they are left out of that epoch only, however often it is iterated.
    """

    def __init__(self, size: int, seed: int = 0, *, shuffle: bool = True, rank: int = 0, world: int = 1,
                 skip: int = 0, skip_epoch: int = 0):
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside a world of {world}")
        self.size, self.seed, self.shuffle, self.rank, self.world = size, seed, shuffle, rank, world
        self.skip, self.skip_epoch = skip, skip_epoch
        self.epoch = skip_epoch  # right even if Lightning iterates before it calls set_epoch

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this at the start of every epoch
        self.epoch = epoch

    def global_order(self) -> list[int]:
        """The order of all ranks together: rank r's i-th index is ``global_order()[i * world + r]``."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        padding = -len(order) % self.world
        return order + (order * (padding // max(len(order), 1) + 1))[:padding]

    def __iter__(self):
        mine = self.global_order()[self.rank :: self.world]
        return iter(mine[self.skip :] if self.epoch == self.skip_epoch else mine)

    def __len__(self) -> int:  # per rank, whole epoch: Lightning counts the resumed batches itself
        return -(-self.size // self.world)
