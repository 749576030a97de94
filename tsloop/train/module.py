"""The LightningModule: thin. The network owns its losses; this logs, schedules and checkpoints."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import torch

from tsloop import metrics
from tsloop.train.config import TrainConfig
from tsloop.train.schedule import lr_factor


class WorldModelModule(pl.LightningModule):
    """Trains a looped world model built from plain-dict configs (so checkpoints need no pickle)."""

    def __init__(self, model_config: dict, train_config: dict):
        super().__init__()
        from tsloop.model.config import ModelConfig
        from tsloop.model.world_model import WorldModel

        self.save_hyperparameters(logger=False)  # record_run logs them flat, once
        self.model = WorldModel(ModelConfig.from_dict(model_config))
        self.train_cfg = TrainConfig.from_dict(train_config)
        self._val: dict[str, list[np.ndarray]] = {}
        self._diag_batch: dict[str, torch.Tensor] | None = None

    def _shared_step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        loss, logs = self.model.loss(batch, step=self.global_step)
        size = batch["past_target"].shape[0]
        self.log(f"{stage}/loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        for name, value in logs.items():
            if name == "loss":
                continue
            self.log(f"{stage}/{name}", float(value), on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._shared_step(batch, "train")
        # every logging interval too, so learning curves have points before the first epoch ends
        self.log("train/step_loss", loss, on_step=True, on_epoch=False, batch_size=batch["past_target"].shape[0])
        return loss

    def optimizer_step(self, *args, **kwargs) -> None:
        super().optimizer_step(*args, **kwargs)
        # here, not in on_train_batch_end: checkpoint callbacks run before that hook, and a
        # checkpoint written mid-epoch must hold the EMA of the step it records
        self.model.update_ema()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._shared_step(batch, "val")
        if self._diag_batch is None:
            self._diag_batch = {k: v[:16] for k, v in batch.items()}
        # trained on one-step conditionals only (G-Net), the forward pass is untrained: score what is trained.
        # (Scoring them under every G-computation model was measured on suite 4, c = 0 and 1, seed 0: no better.)
        one_step = self.model.one_step_only
        out = self.model.one_step_forecast(batch) if one_step else self.model(batch)
        past, future = batch["past_target"], batch["future_target"]
        # persistence on the same footing: the last value the forecast of each step has seen (one-step
        # conditionals see every patch before their own)
        last = past[:, -1:].expand_as(future)
        if one_step:  # step t of patch k has seen row k * P - 1 of the horizon (the context's last for k = 0)
            p = self.model.cfg.patch_len
            seen = torch.cat([past[:, -1:], future], dim=1)
            last = seen[:, (torch.arange(future.shape[1], device=future.device) // p) * p]
        keep = {
            "quantiles": out.quantiles,  # (B, H, Ct, Q)
            "truth": batch["future_target"],  # (B, H, Ct)
            "last": last,  # persistence forecast
            "mask": batch["future_target_mask"],
            "event_prob": out.event_prob,  # (B, H, Ce)
            "event": batch["future_event"],
        }
        for key, value in keep.items():
            self._val.setdefault(key, []).append(value.detach().float().cpu().numpy())

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        val = {k: np.concatenate(v) for k, v in self._val.items()}
        self._val = {}
        median = val["quantiles"][..., self.model.cfg.median_index]
        scores = {
            "val/mae": metrics.mae(median, val["truth"], val["mask"]),
            "val/mse": metrics.mse(median, val["truth"], val["mask"]),
            # the quantile grid read as an ensemble: properscoring's CRPS of that ensemble
            "val/crps": metrics.crps_samples(np.moveaxis(val["quantiles"], -1, 0), val["truth"], val["mask"]),
            # CRPS of a point forecast is its MAE: the naive bar a usable model must clear (fit() warns)
            "val/crps_persistence": metrics.mae(val["last"], val["truth"], val["mask"]),
        }
        if val["event"].size:
            scores["val/event_auprc"] = metrics.auprc(val["event_prob"], val["event"])
            prob = np.clip(val["event_prob"], 1e-6, 1 - 1e-6)
            scores["val/event_bce"] = float(-np.mean(val["event"] * np.log(prob) + (1 - val["event"]) * np.log1p(-prob)))
        # Model selection and early stopping: the whole horizon, every patch. val/loss is not fit for it:
        # in deferred training it scores only the curriculum's current terminal patch, so it rises as K grows
        # (ETTh1: val/loss 1.23 -> 1.75 over 400 steps while val/crps fell 0.506 -> 0.488).
        parts = ([scores["val/crps"]] if val["truth"].shape[-1] else []) + [scores.get("val/event_bce", 0.0)]
        scores["val/select"] = float(sum(parts))
        for name, value in scores.items():
            if np.isfinite(value):
                self.log(name, value, sync_dist=True)
        if self._diag_batch is not None:
            diag = self.model.diagnostics(self._diag_batch)
            for name, value in diag.items():
                self.log(f"diag/{name}", float(value), sync_dist=True)
            self._diag_batch = None

    def configure_optimizers(self):
        groups = self.model.param_groups(self.train_cfg.weight_decay)
        optimizer = torch.optim.AdamW(groups, lr=self.train_cfg.lr)
        schedule = self.train_cfg.lr_schedule
        if schedule == "constant":
            return optimizer
        total = self.trainer.estimated_stepping_batches  # the step budget, or the epochs' batches
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(schedule, step, total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
