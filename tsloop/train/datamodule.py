"""LightningDataModule over a validated telemetry task."""

from __future__ import annotations

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from tsloop.train.config import TrainConfig
from tsloop.train.sampler import EpochSampler

__all__ = ["EpochSampler", "TelemetryDataModule"]


class TelemetryDataModule(pl.LightningDataModule):
    """Train/validation/test window loaders of a task (see ``tsloop.data.batch`` for the batch keys).

    Every loader shards its windows across DDP ranks itself (``EpochSampler``), so the trainer must
    run with ``use_distributed_sampler=False``, as ``fit`` does.

    ``resume_batches``: training batches of epoch ``resume_epoch`` already done by the run being resumed.
    """

    def __init__(self, task, config: TrainConfig, resume_batches: int = 0, resume_epoch: int = 0):
        super().__init__()
        self.task = task
        self.config = config
        self.resume_batches = resume_batches
        self.resume_epoch = resume_epoch

    def _loader(self, part: str, stride: int, shuffle: bool) -> DataLoader:
        dataset = self.task.dataset(part, stride=stride)
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        skip = self.resume_batches * self.config.batch_size if shuffle else 0  # this rank's share
        sampler = EpochSampler(len(dataset), self.config.seed, shuffle=shuffle, rank=rank, world=world,
                               skip=skip, skip_epoch=self.resume_epoch)
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
