"""Training windows read from the file a chunk of series at a time (a ``StreamTask``), so memory
follows the chunk, not the file.

The order mirrors ``EpochSampler``'s and depends only on (seed, epoch): the chunks are visited in
a permuted order, and chunk ``c``'s windows in the permutation ``EpochSampler`` would draw for
them with the seed offset by ``c``. Chunk 0 uses ``EpochSampler``'s own seed, so a file that fits
in one chunk gives exactly the batches of in-memory training; with several chunks, windows are
mixed within a chunk only, and a batch never spans two chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from tsloop.data import split as splits
from tsloop.data.stream import ChunkWindows, iter_chunks
from tsloop.data.stream_task import StreamTask
from tsloop.errors import TsloopError
from tsloop.train.config import TrainConfig

CHUNK_ORDER_SEED = 104_729  # offset of the chunk order's generator from the windows' ones


def _generator(seed: int, epoch: int, offset: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch + offset)  # EpochSampler's at offset 0


class StreamEpochWindows(IterableDataset):
    """Batches of one part of a streamed task, in an order that depends only on (seed, epoch).

    ``epoch_of`` tells the current epoch (the trainer's); ``skip`` batches of epoch ``skip_epoch``
    are left out (a resumed run already trained on them); chunks they cover are not read at all.
    """

    def __init__(self, task: StreamTask, part: str, stride: int, batch_size: int, *, shuffle: bool, seed: int = 0,
                 epoch_of: Callable[[], int] = lambda: 0, skip: int = 0, skip_epoch: int = 0):
        self.task, self.part, self.stride, self.batch_size = task, part, stride, batch_size
        self.shuffle, self.seed, self.epoch_of = shuffle, seed, epoch_of
        self.skip, self.skip_epoch = skip, skip_epoch
        self.windows = [sum(len(splits.window_starts(splits.part_bounds(task.lengths[s], task.spec)[part], task.spec,
                                                     stride)) for s in chunk) for chunk in task.chunks()]

    def __len__(self) -> int:  # whole epoch, as Lightning counts it
        return sum(-(-n // self.batch_size) for n in self.windows)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        epoch = self.epoch_of()
        chunks = self.task.chunks()
        order = (torch.randperm(len(chunks), generator=_generator(self.seed, epoch, CHUNK_ORDER_SEED)).tolist()
                 if self.shuffle else range(len(chunks)))
        skip = self.skip if epoch == self.skip_epoch else 0
        for c in order:
            batches = -(-self.windows[c] // self.batch_size)
            if skip >= batches:  # already trained on: do not even read it
                skip -= batches
                continue
            _, items = next(iter_chunks(self.task.spec, len(chunks[c]), only=chunks[c]))
            chunk = ChunkWindows(self.task.spec, self.task.scaler, items, self.part, self.stride)
            windows = (torch.randperm(len(chunk), generator=_generator(self.seed, epoch, c)).numpy()
                       if self.shuffle else np.arange(len(chunk)))
            for b in range(skip * self.batch_size, len(windows), self.batch_size):
                yield chunk.batch(windows[b : b + self.batch_size])
            skip = 0


class StreamDataModule(pl.LightningDataModule):
    """``TelemetryDataModule`` for a ``StreamTask``: the same loaders, read chunk by chunk."""

    def __init__(self, task: StreamTask, config: TrainConfig, resume_batches: int = 0, resume_epoch: int = 0):
        super().__init__()
        self.task, self.config = task, config
        self.resume_batches, self.resume_epoch = resume_batches, resume_epoch

    def _loader(self, part: str, stride: int, shuffle: bool) -> DataLoader:
        if self.trainer is not None and self.trainer.world_size > 1:
            raise TsloopError(
                "streamed training (--stream, or a file above the automatic row threshold) runs on one process; "
                "drop --devices/--strategy, or train in memory with --no-stream"
            )
        dataset = StreamEpochWindows(
            self.task, part, stride, self.config.batch_size, shuffle=shuffle, seed=self.config.seed,
            epoch_of=lambda: self.trainer.current_epoch if self.trainer is not None else 0,
            skip=self.resume_batches if shuffle else 0, skip_epoch=self.resume_epoch,
        )
        return DataLoader(dataset, batch_size=None)  # batches come whole; workers would each repeat the file

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.config.train_stride, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.config.val_stride, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.config.val_stride, shuffle=False)
