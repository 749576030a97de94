"""LightningDataModule over a validated telemetry task."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Sampler

from tsloop.train.config import TrainConfig


class EpochSampler(Sampler[int]):
    """Shuffled indices that depend only on (seed, epoch), so a run resumed mid-epoch sees the
    same batches as one never interrupted; ``skip`` drops the indices the killed run already used."""

    def __init__(self, size: int, seed: int, skip: int = 0):
        self.size, self.seed, self.epoch, self.skip = size, seed, 0, skip

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this at the start of every epoch
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        skip, self.skip = self.skip, 0  # only the first epoch after a resume is partly done
        return iter(order[skip:])

    def __len__(self) -> int:
        return self.size


class TelemetryDataModule(pl.LightningDataModule):
    """Train/validation/test window loaders of a task (see ``tsloop.data.batch`` for the batch keys).

    ``resume_batches``: training batches of the current epoch already done by the run being resumed.
    """

    def __init__(self, task, config: TrainConfig, resume_batches: int = 0):
        super().__init__()
        self.task = task
        self.config = config
        self.resume_batches = resume_batches

    def _loader(self, part: str, stride: int, shuffle: bool) -> DataLoader:
        dataset = self.task.dataset(part, stride=stride)
        sampler = None
        if shuffle:
            # under DDP the ranks take interleaved indices of one global order: skip every rank's share
            world = self.trainer.world_size if self.trainer is not None else 1
            skip = self.resume_batches * self.config.batch_size * world
            sampler = EpochSampler(len(dataset), self.config.seed, skip=skip)
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            sampler=sampler,
            num_workers=self.config.num_workers,
            persistent_workers=self.config.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.config.train_stride, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.config.val_stride, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.config.val_stride, shuffle=False)
