"""Training configuration: one flat dataclass, each field declared once."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from tsloop.errors import SpecError
from tsloop.train.schedule import SCHEDULES

FINETUNE = ("all", "heads")  # TrainConfig.finetune
DIRECT_PATH = ("auto", "fixed", "prefit", "joint")  # TrainConfig.direct_path


@dataclass
class TrainConfig:
    max_epochs: int = 30
    max_steps: int | None = 2000  # optimizer-step budget: the same model on any machine; None = epochs and early stopping only
    max_time_s: float | None = None  # wall-clock cap for fit(), seconds; None = no cap (results then depend on the machine's load)
    batch_size: int = 64
    lr: float = 1e-3
    lr_schedule: str = "constant"  # constant | cosine (warm-up, then down to a tenth over the step budget; schedule.py)
    weight_decay: float = 1e-2  # AdamW; a, delta, B of the retention are exempt (Parcae)
    grad_clip: float = 1.0  # max gradient norm (LOOPWM.md)
    patience: int = 5  # early stopping on val/select (whole-horizon CRPS + event BCE), in validation checks
    seed: int = 0
    accelerator: str = "cpu"  # any Lightning accelerator: cpu, gpu, mps, auto
    devices: int | str = 1
    strategy: str = "auto"  # any Lightning strategy: ddp, ddp_spawn, fsdp, ...
    num_nodes: int = 1
    train_stride: int = 1  # step between training windows, in time steps
    val_stride: int = 1
    val_check_steps: int = 0  # validate every N optimizer steps; 0 = each epoch end, or 10 times over max_steps
    limit_train_batches: float | int = 1.0  # fraction or count of batches per epoch
    limit_val_batches: float | int = 1.0
    threads: int = 0  # torch CPU threads; 0 = auto: the cores the 1-minute load average leaves idle, at least 1
    num_workers: int = 0
    deterministic: bool = True
    progress_bar: bool = True
    checkpoint_every: int = 0  # also write last.ckpt every N optimizer steps (0 = at epoch ends only)
    range_margin: float | None = 1.0  # forecasts are clipped to the train range widened by this many widths; None = off
    init: str | None = None  # start from a pretrained model: 'pretrained' (the shipped one) or a model file; copies every weight whose name and shape match
    direct_path: str = "auto"  # the direct linear path: fixed (least squares on the training windows, then frozen: prefit.py) | prefit (least squares, then trained with the rest) | joint (trained with the rest from zero) | auto (fixed, or joint for a task with interventions)
    finetune: str = "all"  # with init: 'all' trains every weight; 'heads' freezes the looped core's copied weights (embeddings, heads and linear path train)

    def __post_init__(self) -> None:
        if self.finetune not in FINETUNE:
            raise SpecError(f"finetune must be one of {FINETUNE}, got {self.finetune!r}: 'all' trains every weight, "
                            "'heads' freezes the pretrained looped core")
        if self.finetune != "all" and not self.init:
            raise SpecError(f"finetune {self.finetune!r} freezes weights copied from a pretrained model: give one "
                            "with init (--init pretrained or --init PATH), or train everything (--finetune all)")
        if self.direct_path not in DIRECT_PATH:
            raise SpecError(f"direct_path must be one of {DIRECT_PATH}, got {self.direct_path!r}: 'joint' trains the "
                            "direct linear path with the rest, 'prefit' starts it at its least-squares fit, 'fixed' "
                            "also keeps it there, 'auto' is 'fixed' except for tasks with interventions ('joint')")
        if self.lr_schedule not in SCHEDULES:
            raise SpecError(f"lr_schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}")

    def epochs_end_first(self, batches_per_epoch: int | None = None) -> bool:
        """True when ``max_epochs`` ends training before the step budget does (or there is no budget);
        False when unknown (``batches_per_epoch`` None): the budget is then taken to bind."""
        if not self.max_steps:
            return True
        if batches_per_epoch is None:
            return False
        batches = self.limit_train_batches
        per_epoch = min(batches_per_epoch, int(batches) if batches > 1 else max(1, int(batches * batches_per_epoch)))
        return self.max_epochs * per_epoch <= self.max_steps

    def validation_interval(self, batches_per_epoch: int | None = None) -> int | None:
        """Optimizer steps between validation checks, or None for once per epoch end.

        With a step budget that ends before the epochs do, 10 checks spread over the budget (a
        budget may end mid-epoch); when the epochs end first, the epoch ends, so the last step is
        always validated."""
        if self.val_check_steps > 0:
            return self.val_check_steps
        if self.epochs_end_first(batches_per_epoch):
            return None
        return -(-self.max_steps // 10)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SpecError(f"unknown training option(s) {unknown}; valid options: {sorted(known)}")
        return cls(**values)
