"""``fit``: config → data → model → trainer → MLflow, in one composer.

Example::

    from tsloop.data.task import load_task
    from tsloop.model import ModelConfig
    from tsloop.train import TrainConfig, fit

    task = load_task("tasks/plant_forecast.yaml")
    cfg = ModelConfig.preset("small", dims=task.spec.dims, context_length=96, horizon=24)
    result = fit(task, cfg, TrainConfig(max_epochs=10), out_dir="outputs/plant")
    print(result.metrics, result.run_id)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from tsloop.bundle import Bundle
from tsloop.errors import CheckpointError
from tsloop.train.callbacks import DivergenceGuard
from tsloop.train.config import TrainConfig
from tsloop.train.datamodule import TelemetryDataModule
from tsloop.train.logging import make_logger, record_run
from tsloop.train.module import WorldModelModule

RUN_FILE = "run.json"  # remembers the MLflow run id so --resume continues the same run


@dataclass
class FitResult:
    bundle_path: Path
    run_id: str | None
    metrics: dict[str, float]
    wall_time_s: float
    out_dir: Path
    best_checkpoint: str = ""
    extra: dict = field(default_factory=dict)


def _resume_state(out_dir: Path) -> tuple[str | None, str | None]:
    last = out_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise CheckpointError(
            f"--resume: no checkpoint at {last}; start without --resume, or point --out at the folder "
            "of the interrupted run"
        )
    run_file = out_dir / RUN_FILE
    run_id = json.loads(run_file.read_text()).get("run_id") if run_file.is_file() else None
    return str(last), run_id


def fit(
    task,
    model_config,
    train_config: TrainConfig,
    *,
    out_dir: str | Path,
    experiment: str = "tsloop",
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    resume: bool = False,
) -> FitResult:
    """Train on ``task`` with Lightning, log everything to MLflow, and write ``out_dir/model.pt``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, run_id = _resume_state(out_dir) if resume else (None, None)
    pl.seed_everything(train_config.seed, workers=True, verbose=False)

    datamodule = TelemetryDataModule(task, train_config)
    module = WorldModelModule(model_config.to_dict(), train_config.to_dict())
    logger = make_logger(experiment, run_name or task.spec.name, run_id=run_id, tags=tags)
    if logger is not None and logger.run_id:
        (out_dir / RUN_FILE).write_text(json.dumps({"run_id": logger.run_id, "experiment": experiment}))

    checkpoint = ModelCheckpoint(
        dirpath=out_dir / "checkpoints", filename="best", monitor="val/loss", save_last=True, save_top_k=1,
        enable_version_counter=False,
    )
    callbacks = [checkpoint, EarlyStopping(monitor="val/loss", patience=train_config.patience), DivergenceGuard()]
    trainer = pl.Trainer(
        max_epochs=train_config.max_epochs,
        max_time={"seconds": train_config.max_time_s} if train_config.max_time_s else None,
        accelerator=train_config.accelerator,
        devices=train_config.devices,
        strategy=train_config.strategy,
        num_nodes=train_config.num_nodes,
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
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    wall = time.perf_counter() - start

    best = checkpoint.best_model_path or checkpoint.last_model_path
    if best:
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if torch.is_tensor(v) and v.numel() == 1}
    model = module.model.cpu().eval()
    n_params = sum(p.numel() for p in model.parameters())
    bundle = Bundle(
        model_config=model_config.to_dict(),
        spec=task.spec.to_dict(),
        scaler=task.scaler.to_dict(),
        state_dict=model.state_dict(),
        meta={
            "fingerprint": task.fingerprint(),
            "train_config": train_config.to_dict(),
            "run_id": logger.run_id if logger is not None else None,
            "parameters": n_params,
            "best_epoch_metrics": metrics,
        },
    )
    bundle_path = bundle.save(out_dir / "model.pt")
    result = FitResult(bundle_path, logger.run_id if logger else None, metrics, wall, out_dir, best)
    if logger is not None and trainer.is_global_zero:
        record_run(logger, result, task, model, model_config, train_config)
    return result
