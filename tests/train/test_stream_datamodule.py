"""Streamed training (windows read a chunk of series at a time) gives the batches of in-memory
training when the file fits one chunk, and every window once per epoch when it does not."""

from __future__ import annotations

import hashlib
import json

import lightning.pytorch as pl
import mlflow
import numpy as np
import pytest
import torch

from tests.conftest import TRAIN_FLAGS
from tsloop import tracking
from tsloop.cli.main import main
from tsloop.data.spec import TaskSpec
from tsloop.data.stream_task import load_stream_task
from tsloop.data.task import load_task
from tsloop.train.config import TrainConfig
from tsloop.train.datamodule import TelemetryDataModule
from tsloop.train.stream_datamodule import StreamEpochWindows


def _digest(batch: dict) -> str:
    h = hashlib.sha1()
    for key in sorted(batch):
        h.update(key.encode() + batch[key].numpy().tobytes())
    return h.hexdigest()[:16]


def _epoch(loader, epoch: int) -> list[str]:
    loader.sampler.set_epoch(epoch)
    return [_digest(b) for b in loader]


def _streamed(task, epoch: int, chunk: int = 64, **kwargs) -> list[str]:
    stream = load_stream_task(task.spec, series_per_chunk=chunk)
    return [_digest(b) for b in StreamEpochWindows(stream, "train", 4, 16, shuffle=True, epoch_of=lambda: epoch, **kwargs)]


@pytest.fixture(scope="module")
def tasks(tiny_task):
    spec = TaskSpec.from_yaml(tiny_task.path)
    return load_task(spec), load_stream_task(spec)


def test_when_the_file_fits_one_chunk_then_streamed_batches_equal_in_memory_ones_every_epoch(tasks):
    memory, stream = tasks
    assert stream.scaler.to_dict() == memory.scaler.to_dict()
    assert stream.fingerprint() == memory.fingerprint()
    assert stream.describe() == memory.describe()
    loader = TelemetryDataModule(memory, TrainConfig(batch_size=16, train_stride=4))._loader("train", 4, shuffle=True)
    for epoch in (0, 1):
        assert _streamed(memory, epoch) == _epoch(loader, epoch)
    val = TelemetryDataModule(memory, TrainConfig(batch_size=16))._loader("val", 1, shuffle=False)
    streamed_val = StreamEpochWindows(stream, "val", 1, 16, shuffle=False)
    assert len(streamed_val) == len(val)
    assert [_digest(b) for b in streamed_val] == [_digest(b) for b in val]


def test_when_the_file_spans_chunks_then_each_epoch_has_every_window_once_in_its_own_order(tasks):
    memory, _ = tasks
    loader = TelemetryDataModule(memory, TrainConfig(batch_size=1, train_stride=4))._loader("train", 4, shuffle=True)
    every = sorted(_epoch(loader, 0))

    def windows(epoch: int) -> list[str]:
        stream = load_stream_task(memory.spec, series_per_chunk=1)
        return [_digest(b) for b in StreamEpochWindows(stream, "train", 4, 1, shuffle=True, epoch_of=lambda: epoch)]

    zero, one = windows(0), windows(1)
    assert sorted(zero) == sorted(one) == every
    assert zero != one


def test_when_resumed_mid_epoch_then_the_stream_continues_with_the_next_batch(tasks):
    memory, _ = tasks
    whole = _streamed(memory, 2, chunk=1)
    assert _streamed(memory, 2, chunk=1, skip=3, skip_epoch=2) == whole[3:]
    assert _streamed(memory, 3, chunk=1, skip=3, skip_epoch=2) == _streamed(memory, 3, chunk=1)


def test_when_training_with_stream_then_the_batches_and_metrics_equal_in_memory_training(
    tiny_task, tmp_path, monkeypatch, capsys
):
    seen: dict[str, list[str]] = {}

    class Recorder(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            seen.setdefault(trainer.default_root_dir, []).append(_digest(batch))

    class RecordedTrainer(pl.Trainer):
        def __init__(self, *args, callbacks=(), **kwargs):
            super().__init__(*args, callbacks=[*callbacks, Recorder()], **kwargs)

    monkeypatch.setattr(pl, "Trainer", RecordedTrainer)
    # one thread for both, so that the automatic count (it follows the load average) cannot give the two runs
    # different summation orders, which the direct path's L-BFGS fit could carry into the val loss
    flags = [*TRAIN_FLAGS, "--max-epochs", "2", "--threads", "1"]
    for mode in ("--no-stream", "--stream"):
        assert main(["train", "--task", str(tiny_task.path), *flags, mode, "--out", str(tmp_path / mode)]) == 0
    assert "streaming the data 64 series at a time" in capsys.readouterr().out
    memory, stream = seen[str(tmp_path / "--no-stream")], seen[str(tmp_path / "--stream")]
    assert len(memory) == 6 and stream == memory
    client = mlflow.MlflowClient(tracking.tracking_uri())
    runs = [json.loads((tmp_path / mode / "run.json").read_text())["run_id"] for mode in ("--no-stream", "--stream")]
    metrics = [client.get_run(r).data.metrics for r in runs]
    for key in ("val/loss", "val/crps"):
        assert metrics[1][key] == pytest.approx(metrics[0][key], rel=1e-6), key
    params = [client.get_run(r).data.params for r in runs]
    assert params[1]["data.fingerprint"] == params[0]["data.fingerprint"]
    a, b = (torch.load(tmp_path / mode / "model.pt", weights_only=True)["state_dict"] for mode in ("--no-stream", "--stream"))
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_when_the_file_has_more_rows_than_the_threshold_then_training_streams_without_being_asked(
    tiny_task, tmp_path, monkeypatch, capsys
):
    from tsloop.data import stream_task

    monkeypatch.setattr(stream_task, "AUTO_STREAM_ROWS", len(tiny_task.frame) - 1)
    assert main(["train", "--task", str(tiny_task.path), *TRAIN_FLAGS, "--out", str(tmp_path / "auto")]) == 0
    assert "streaming the data 64 series at a time" in capsys.readouterr().out
    monkeypatch.setattr(stream_task, "AUTO_STREAM_ROWS", len(tiny_task.frame))
    assert main(["train", "--task", str(tiny_task.path), *TRAIN_FLAGS, "--out", str(tmp_path / "memory")]) == 0
    assert "streaming" not in capsys.readouterr().out


def test_when_streaming_on_several_processes_then_the_cli_refuses_before_training(tiny_task, tmp_path, capsys):
    code = main(["train", "--task", str(tiny_task.path), *TRAIN_FLAGS, "--stream", "--devices", "2",
                 "--strategy", "ddp", "--out", str(tmp_path / "ddp")])
    err = capsys.readouterr().err
    assert code == 2 and "runs on one process" in err and "--no-stream" in err and "Traceback" not in err
    assert not (tmp_path / "ddp").exists()
