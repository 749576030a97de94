"""Callbacks: stop with a diagnosis when training diverges; carry RNG state across a resume."""

from __future__ import annotations

import random

import lightning.pytorch as pl
import numpy as np
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


class RngState(pl.Callback):
    """Saves the torch, NumPy and Python random states in every checkpoint and restores them on
    resume, so a resumed run draws the same random numbers as an uninterrupted one.

    The states are put back at the point the interrupted run would have continued from: the next
    batch for a checkpoint written mid-epoch, the next epoch's start (before its data loader draws
    a seed) for one written at an epoch's end. Under DDP the checkpoint holds every rank's states,
    and each rank gets its own back when resumed with the same world size. Stored as tensors, numbers and lists only, so the
    checkpoint still loads with ``weights_only=True``.
    """

    KEY = "tsloop_rng"

    def __init__(self) -> None:
        self._pending: dict | None = None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        state = {"mid_epoch": not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch, **_rng_states()}
        if trainer.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            # every rank saves a checkpoint together (only rank 0's reaches the disk): gather all
            # ranks' states into it, so each rank draws on after a resume as if never interrupted
            ranks: list = [None] * trainer.world_size
            torch.distributed.all_gather_object(ranks, {k: v for k, v in state.items() if k != "mid_epoch"})
            state["ranks"] = ranks
        checkpoint[self.KEY] = state

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        state = checkpoint.get(self.KEY)
        ranks = (state or {}).get("ranks")
        if ranks is not None and len(ranks) == trainer.world_size:  # same world size: this rank's own
            state = {"mid_epoch": state["mid_epoch"], **ranks[trainer.global_rank]}
        self._pending = state

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self._pending is not None and not self._pending["mid_epoch"]:
            self._restore()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if self._pending is not None:
            self._restore()

    def _restore(self) -> None:
        state, self._pending = self._pending, None
        torch.set_rng_state(state["torch"])
        n = state["numpy"]
        np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
        py = state["python"]
        random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))


def _rng_states() -> dict:
    """The torch, NumPy and Python random states as tensors, numbers and lists."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }
