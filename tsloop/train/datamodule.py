"""LightningDataModule over a validated telemetry task."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from tsloop.train.config import TrainConfig


class TelemetryDataModule(pl.LightningDataModule):
    """Train/validation/test window loaders of a task (see ``tsloop.data.batch`` for the batch keys)."""

    def __init__(self, task, config: TrainConfig):
        super().__init__()
        self.task = task
        self.config = config

    def _loader(self, part: str, stride: int, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.config.seed)
        return DataLoader(
            self.task.dataset(part, stride=stride),
            batch_size=self.config.batch_size,
            shuffle=shuffle,
            generator=generator if shuffle else None,
            num_workers=self.config.num_workers,
            persistent_workers=self.config.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.config.train_stride, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.config.val_stride, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.config.val_stride, shuffle=False)
