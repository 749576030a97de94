"""``fit``: config → data → model → trainer, returning what was trained.

Recording the run is the caller's: ``fit`` takes any Lightning logger (or none), and
:func:`tsloop.tracking.training.fit_and_record` composes it with MLflow.

Example (three optimizer steps of the tiny preset on a simulated fleet: it shows the calls, the
model it trains is no good; ``load_task("tasks/plant_forecast.yaml")`` is the full-size task)::

    >>> import tempfile
    >>> from tsloop.data.spec import TaskSpec
    >>> from tsloop.data.task import load_task
    >>> from tsloop.model.config import ModelConfig
    >>> from tsloop.train.config import TrainConfig
    >>> from tsloop.train.fit import fit
    >>> spec = TaskSpec(name="fleet", source={"loader": "plant", "series": 2, "steps": 800, "step_minutes": 15},
    ...                 target=["cpu_util", "latency_p95"], past_exog=["request_rate", "replicas"],
    ...                 freq="15min", context_length=32, horizon=8, series_id="series")
    >>> task = load_task(spec)
    >>> cfg = ModelConfig.for_task("tiny", task.spec)
    >>> result = fit(task, cfg, TrainConfig(max_steps=3, progress_bar=False), out_dir=tempfile.mkdtemp())
    >>> result.steps, result.bundle_path.name, "val/crps" in result.metrics
    (3, 'model.pt', True)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from tsloop.bundle import Bundle
from tsloop.errors import CheckpointError, TsloopError
from tsloop.model.policy import calibrate
from tsloop.train.callbacks import DivergenceGuard, RngState
from tsloop.train.prefit import direct_path_mode, prefit_direct_path, training_batches
from tsloop.train.config import TrainConfig
from tsloop.train.datamodule import TelemetryDataModule
from tsloop.train.adapt_start import adapted_start
from tsloop.train.init import freeze, initialise
from tsloop.train.module import WorldModelModule
from tsloop.train.threads import set_threads

SELECT_METRIC = "val/select"  # best checkpoint and early stopping (WorldModelModule.on_validation_epoch_end)


@dataclass
class FitResult:
    bundle_path: Path
    run_id: str | None
    metrics: dict[str, float]
    wall_time_s: float
    out_dir: Path
    best_checkpoint: str = ""
    steps: int = 0  # optimizer steps taken
    threads: int = 1  # torch CPU threads used
    warning: str | None = None  # set when validation says the model is not usable yet (``usability``)
    extra: dict = field(default_factory=dict)
    rank_zero: bool = True  # under DDP only rank 0 writes the model file and records the run
    device: str = "cpu"  # what trained it: 'cpu', or e.g. 'cuda:0 (NVIDIA H100 80GB HBM3)'


def _resume_state(out_dir: Path, model_config: dict) -> tuple[str, tuple[int, int]]:
    """The checkpoint to resume from and (the epoch training goes on with, the batches of it
    already done); CheckpointError if the checkpoint is unreadable or from another model."""
    last = out_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise CheckpointError(
            f"--resume: no checkpoint at {last}; start without --resume, or point --out at the folder "
            "of the interrupted run"
        )
    try:  # Lightning loads it again below, also with weights_only=True: no pickled code runs
        state = torch.load(last, map_location="cpu", weights_only=True)
        saved = state["hyper_parameters"]["model_config"]
        done = int(state["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["processed"])
        at_end = bool(state["loops"]["fit_loop"]["epoch_loop.batch_progress"].get("is_last_batch"))
        epoch = int(state["epoch"])
    except Exception as err:
        raise CheckpointError(
            f"--resume: {last} is not a readable training checkpoint ({type(err).__name__}: {str(err)[:160]}). "
            "It may be truncated or corrupted; delete it (and best.ckpt if also broken) and start without "
            "--resume, or restore it from the MLflow run's checkpoints/ artifacts."
        ) from None
    changed = sorted(k for k in set(saved) | set(model_config) if saved.get(k) != model_config.get(k))
    if changed:
        shown = "; ".join(f"{k}: checkpoint {saved.get(k)!r}, now {model_config.get(k)!r}" for k in changed[:6])
        raise CheckpointError(
            f"--resume: {last} was written for another model configuration ({shown}). Resume with the "
            "same task, --preset and --set options as the interrupted run, or start without --resume "
            "in a new --out folder."
        )
    return str(last), (epoch + 1, 0) if at_end else (epoch, done)


def fit(
    task,
    model_config,
    train_config: TrainConfig,
    *,
    out_dir: str | Path,
    logger=None,
    resume: bool = False,
    callbacks: Sequence[pl.Callback] = (),
) -> FitResult:
    """Train on ``task`` with Lightning and write ``out_dir/model.pt``; epoch metrics go to
    ``logger`` (any Lightning logger; None logs nothing); ``callbacks`` are more Lightning callbacks,
    run after tsloop's own (checkpoints, early stopping, divergence guard)."""
    out_dir = Path(out_dir)
    check_writable(out_dir)
    ckpt_path, (epoch, done) = _resume_state(out_dir, model_config.to_dict()) if resume else (None, (0, 0))
    pl.seed_everything(train_config.seed, workers=True, verbose=False)
    threads = set_threads(train_config.threads)

    if getattr(task, "streamed", False):  # a StreamTask: windows read from the file chunk by chunk
        from tsloop.train.stream_datamodule import StreamDataModule as DataModule
    else:
        DataModule = TelemetryDataModule
    datamodule = DataModule(task, train_config, resume_batches=done, resume_epoch=epoch)
    module = WorldModelModule(model_config.to_dict(), train_config.to_dict())
    init = None
    if train_config.init:  # on resume too: the checkpoint then restores the weights, the same ones stay frozen
        init = initialise(module.model, train_config.init)
        freeze(module.model, train_config.finetune, init)
    # the direct path's least-squares start (a resumed run's checkpoint restores it)
    prefit, direct = None, direct_path_mode(train_config.direct_path, module.model.cfg)
    if direct != "joint" and module.model.linear_path is not None:
        if ckpt_path is None:
            # adapted from a pretrained model: its forecast, or a fresh head, whichever validation prefers
            prefit = (adapted_start(module.model, task, train_config.seed, init) if init is not None
                      else prefit_direct_path(module.model, training_batches(task, seed=train_config.seed)))
        if direct == "fixed":
            module.model.linear_path.requires_grad_(False)
    run_id = getattr(logger, "run_id", None)

    checkpoint = ModelCheckpoint(
        dirpath=out_dir / "checkpoints", filename="best", monitor=SELECT_METRIC, save_top_k=1,
        enable_version_counter=False,
    )
    # last.ckpt: at every epoch end, and every N optimizer steps so a kill mid-epoch loses little
    last = ModelCheckpoint(
        dirpath=out_dir / "checkpoints", save_top_k=0, save_last=True, enable_version_counter=False,
        every_n_train_steps=train_config.checkpoint_every or None, save_on_train_epoch_end=True,
    )
    per_epoch = _batches_per_epoch(task, train_config)
    interval = train_config.validation_interval(per_epoch)
    # Lightning is given the step budget only when it ends training before the epochs do: with both set,
    # a run resumed from an epoch-end checkpoint stopped at once without training (Lightning 2.6)
    max_steps = -1 if train_config.epochs_end_first(per_epoch) else train_config.max_steps
    # strict=False: a step budget that ends between two checks must not fail the run
    stopper = EarlyStopping(monitor=SELECT_METRIC, patience=train_config.patience, strict=False)
    callbacks = [checkpoint, last, stopper,
                 DivergenceGuard(), RngState(), *callbacks]
    trainer = pl.Trainer(
        max_epochs=train_config.max_epochs,
        max_steps=max_steps,
        val_check_interval=interval,
        check_val_every_n_epoch=None if interval else 1,
        max_time={"seconds": train_config.max_time_s} if train_config.max_time_s else None,
        accelerator=train_config.accelerator,
        devices=train_config.devices,
        strategy=train_config.strategy,
        num_nodes=train_config.num_nodes,
        use_distributed_sampler=False,  # the datamodule's EpochSampler shards by rank itself
        gradient_clip_val=train_config.grad_clip,
        deterministic=train_config.deterministic,
        limit_train_batches=train_config.limit_train_batches,
        limit_val_batches=train_config.limit_val_batches,
        logger=logger if logger is not None else False,
        callbacks=callbacks,
        enable_progress_bar=train_config.progress_bar,
        enable_model_summary=False,
        log_every_n_steps=10,
        default_root_dir=out_dir,
        num_sanity_val_steps=0,
    )
    start = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except OSError as err:  # disk full, folder made read-only or removed while training
        raise TsloopError(
            f"training stopped: writing under {out_dir} failed ({err.strerror or err}). Checkpoints are "
            "written atomically, so the last complete one is intact: free space (or fix the folder's "
            "permissions) and continue with --resume."
        ) from None
    wall = time.perf_counter() - start

    best = checkpoint.best_model_path or last.last_model_path
    if best:
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if torch.is_tensor(v) and v.numel() == 1}
    model = module.model.cpu().eval()
    calibration = calibrate(model, datamodule.val_dataloader())  # the policy head's tails as p-values (policy.py)
    n_params = sum(p.numel() for p in model.parameters())
    bundle = Bundle(
        model_config=model_config.to_dict(),
        spec=task.spec.to_dict(),
        scaler=task.scaler.to_dict(),
        state_dict=model.state_dict(),
        meta={
            "fingerprint": task.fingerprint(),
            "train_config": train_config.to_dict(),
            "run_id": run_id,
            "range_margin": train_config.range_margin,
            "parameters": n_params,
            "best_epoch_metrics": metrics,
            **({"policy_calibration": calibration.as_meta()} if calibration else {}),
        },
    )
    # under DDP every rank gets here; one file, one MLflow run: rank 0 writes and logs
    bundle_path = bundle.save(out_dir / "model.pt") if trainer.is_global_zero else out_dir / "model.pt"
    steps = int(trainer.global_step)
    return FitResult(bundle_path, run_id, metrics, wall, out_dir, best, steps=steps, threads=threads,
                     warning=usability(metrics, steps), rank_zero=trainer.is_global_zero,
                     extra={**({"init": init.to_dict()} if init else {}), **({"prefit": prefit} if prefit else {}),
                            **({"policy_calibration": {"steps": calibration.count, "raw_below_005": calibration.raw_below_005}}
                               if calibration else {})},
                     device=device_name(trainer))


def device_name(trainer) -> str:
    """The device rank 0 trained on, with the accelerator's name for a GPU."""
    device = trainer.strategy.root_device
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def _batches_per_epoch(task, config: TrainConfig) -> int | None:
    """Training batches in one epoch (one process), or None when the task cannot say."""
    if getattr(task, "streamed", False):  # batches are cut per chunk of series, each chunk rounding up
        from tsloop.train.stream_datamodule import StreamEpochWindows

        return len(StreamEpochWindows(task, "train", config.train_stride, config.batch_size, shuffle=False))
    try:
        return -(-len(task.dataset("train", stride=config.train_stride)) // config.batch_size)
    except (AttributeError, TypeError, NotImplementedError):
        return None


def usability(metrics: dict[str, float], steps: int) -> str | None:
    """A warning when the last validation's CRPS does not beat persistence (repeat the last value)."""
    crps, naive = metrics.get("val/crps"), metrics.get("val/crps_persistence")
    if crps is None or naive is None or crps < naive:
        return None
    return (f"after {steps} optimizer steps the model's validation CRPS ({crps:.4g}) is no better than "
            f"repeating the last observed value ({naive:.4g}): it is not usable yet. Train for more "
            "steps (--max-steps), or check the task's roles and context length.")


def check_writable(out_dir: Path) -> None:
    """TsloopError now, not after training, if ``out_dir`` cannot be created or written."""
    import tempfile

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as err:
        raise TsloopError(
            f"cannot write to the output folder {out_dir}: {err.strerror or err}. Choose a writable folder "
            "with --out (and check the disk is not full)."
        ) from None
