"""Callbacks: stop with a diagnosis when training diverges."""

from __future__ import annotations

import lightning.pytorch as pl
import torch

from tsloop.errors import TrainingDivergedError


class DivergenceGuard(pl.Callback):
    """Stops training when the loss or a gradient becomes NaN/inf, naming the batch,
    the parameters whose gradients broke, and the model's stability diagnostics."""

    def __init__(self) -> None:
        self._batch_idx = -1
        self._batch = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self._batch_idx, self._batch = batch_idx, batch

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        bad = [
            name
            for name, p in pl_module.named_parameters()
            if p.grad is not None and not torch.isfinite(p.grad).all()
        ]
        if bad:
            self._fail(trainer, pl_module, f"non-finite gradients in {len(bad)} parameter(s): {bad[:8]}")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not torch.isfinite(loss).all():
            self._fail(trainer, pl_module, f"loss became {float(loss)}")

    def _fail(self, trainer, pl_module, what: str) -> None:
        try:
            with torch.no_grad():
                diag = pl_module.model.diagnostics(self._batch)
            diag_text = ", ".join(f"{k}={v:.4g}" for k, v in diag.items())
        except Exception as err:  # the diagnosis must not hide the divergence itself
            diag_text = f"unavailable ({err})"
        bad_inputs = [
            key for key, value in (self._batch or {}).items()
            if torch.is_tensor(value) and value.is_floating_point() and not torch.isfinite(value).all()
        ]
        raise TrainingDivergedError(
            f"training diverged at epoch {trainer.current_epoch}, batch {self._batch_idx} "
            f"(global step {trainer.global_step}): {what}. "
            f"Non-finite inputs in the batch: {bad_inputs or 'none'}. Stability diagnostics: {diag_text}. "
            "Try a lower --lr, a smaller --grad-clip, or check the data for huge values; "
            "the last good checkpoint is kept and --resume continues from it."
        )
