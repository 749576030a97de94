"""Adapt a pretrained model to a task: its size, every weight whose name and shape match, and
optionally a frozen looped core (``TrainConfig.init`` and ``TrainConfig.finetune``).

The task's model is built from the pretrained config with the task's channels, context and
horizon (:func:`init_config`). Weights whose shape depends on those are fitted where their
meaning carries over (:func:`_align`): the context's position embedding, token mixer and direct
linear map keep their latest positions; a univariate model's head serves each target. The
embeddings of inputs the pretrained model never saw (covariates, controls, events, statics) start
at zero, so the adapted model first forecasts as the pretrained one did. The rest (the patch
embedding of a wider target input) keep their fresh initialisation, and the report names them.

Example (a pretrained-format file of an untrained tiny model stands in for a real one)::

    >>> import tempfile, pathlib
    >>> from tsloop.bundle import Bundle
    >>> from tsloop.data.batch import ChannelDims
    >>> from tsloop.data.spec import TaskSpec
    >>> from tsloop.model import ModelConfig, WorldModel
    >>> from tsloop.query.pretrained import write_pretrained
    >>> source = WorldModel(ModelConfig.preset("tiny", dims=ChannelDims(target=1), context_length=32, horizon=8))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.pt"
    >>> _ = write_pretrained(Bundle(source.cfg.to_dict(), {}, {}, source.state_dict()), path, {})
    >>> spec = TaskSpec(target=["cpu", "latency"], freq="1min", context_length=32, horizon=8)
    >>> model = WorldModel(init_config(str(path), spec))       # tiny's width, the task's 2 targets
    >>> report = initialise(model, str(path))
    >>> print(report.summary())
    init from .../model.pt: copied 38 of 43 weight tensors and fitted 3 more to this window and these channels (93.6% of values); fresh: obs_embed.target.proj.weight, target_obs_embed.target.proj.weight
    >>> frozen = freeze(model, "heads", report)                # the looped core's copied weights
    >>> all(name.startswith("core.") for name in frozen)
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from tsloop.bundle import Bundle
from tsloop.errors import CheckpointError
from tsloop.model.config import ModelConfig
from tsloop.query.pretrained import KEYWORD, check_sidecar, load_pretrained, resolve

FROZEN = {"all": (), "heads": ("core.",)}  # finetune -> prefixes of the weights it freezes (when copied)
# Embeddings of inputs: one the pretrained model never saw (covariates, controls, events, statics) starts
# at zero, so the adapted model first forecasts as the pretrained one did and each input's effect grows
# from nothing as training finds it (EPF NP, seed 0: the untrained adapted model's test MSE 0.467 with
# randomly initialised covariate embeddings).
NEW_INPUTS = ("obs_embed.", "target_obs_embed.", "drive_embed.")


@dataclass
class InitReport:
    """What ``initialise`` copied from the pretrained model and what it left fresh."""

    source: str
    copied: list[str]  # state-dict names copied
    fresh: list[str]  # "name (why)": not in the pretrained model, or another shape
    copied_values: int
    total_values: int
    frozen: list[str] = field(default_factory=list)  # parameter names frozen by ``freeze``
    aligned: list[str] = field(default_factory=list)  # "name (how)": copied in part, fitted to another window or channel count

    def summary(self) -> str:
        """One line: counts, share of values, the fresh weights (first few) and the frozen count."""
        total = len(self.copied) + len(self.aligned) + len(self.fresh)
        share = 100.0 * self.copied_values / max(1, self.total_values)
        names = [f.split(" ")[0] for f in self.fresh]
        shown = ", ".join(names[:8]) + (f" ... ({len(names)} in all)" if len(names) > 8 else "")
        line = (f"init from {self.source}: copied {len(self.copied)} of {total} weight tensors"
                + (f" and fitted {len(self.aligned)} more to this window and these channels" if self.aligned else "")
                + f" ({share:.1f}% of values); fresh: {shown or 'none'}")
        return line + (f"; frozen: {len(self.frozen)} tensors of the looped core" if self.frozen else "")

    def to_dict(self) -> dict:
        return asdict(self)


def load_init(ref: str) -> Bundle:
    """The model file to start from: ``'pretrained'`` (the shipped one, checked as such) or a
    pretrained or task model file (or its folder), checked against its ``.sha256`` if present."""
    if ref == KEYWORD:
        return load_pretrained(None)
    path = resolve(ref)
    if not path.is_file():
        raise CheckpointError(f"--init {ref}: no model file at {path}; give 'pretrained' (the shipped model), a "
                              "pretrained model file (python -m pipelines.pretrain.train writes <out>/model.pt) or a "
                              "task's model.pt or output folder")
    check_sidecar(path)
    return Bundle.load(path)


def init_config(ref: str, spec, **overrides) -> ModelConfig:
    """The task's model config with the size and method of the model at ``ref``
    (:meth:`ModelConfig.for_task_from`)."""
    return ModelConfig.for_task_from(ModelConfig.from_dict(load_init(ref).model_config), spec, **overrides)


def initialise(model: torch.nn.Module, ref: str | Bundle) -> InitReport:
    """Copy into ``model`` every weight (parameter or buffer) of the model at ``ref`` whose name
    and shape match; the rest keep their initialisation."""
    bundle = ref if isinstance(ref, Bundle) else load_init(ref)
    source = "a model bundle" if isinstance(ref, Bundle) else str(resolve(ref))
    theirs = bundle.state_dict
    source_cfg = ModelConfig.from_dict(bundle.model_config)
    copied, fresh, aligned, done, total = [], [], [], 0, 0
    with torch.no_grad():
        for name, tensor in model.state_dict().items():  # tensors that share the model's storage
            total += tensor.numel()
            other = theirs.get(name)
            if other is None and name.startswith(NEW_INPUTS):  # an input it never saw: silent until trained
                tensor.zero_()
                fresh.append(f"{name} (not in the pretrained model; zero)")
            elif other is None:
                fresh.append(f"{name} (not in the pretrained model)")
            elif tuple(other.shape) == tuple(tensor.shape):
                tensor.copy_(other)
                copied.append(name)
                done += tensor.numel()
            elif (fitted := _align(name, tensor, other, model.cfg, source_cfg)) is not None:
                how, values = fitted
                aligned.append(f"{name} ({how})")
                done += values
            else:
                fresh.append(f"{name} (shape {tuple(tensor.shape)} here, {tuple(other.shape)} there)")
        cut = {entry.split(" ")[0].rsplit(".", 1)[0] for entry in aligned}
        for name, module in model.named_modules():  # a mixer cut from another size: its sigma estimate to match
            if name in cut and hasattr(module, "power_iteration"):
                module.power_iteration(_POWER_STEPS)
    if not copied and not aligned:
        raise CheckpointError(f"{source} shares no weight of matching name and shape with this model: it is not a "
                              "tsloop model of a compatible version; train without --init or rebuild it.")
    return InitReport(source, copied, fresh, done, total, aligned=aligned)


_POWER_STEPS = 50  # power iterations after a mixer is cut down: its sigma estimate from the first forward pass


def _overlap(mine: torch.Tensor, other: torch.Tensor, ends: tuple[bool, ...]) -> int:
    """Copy the overlap of ``other`` into ``mine``, each axis taken from its end (``True``: the most
    recent context positions) or its start; the rest of ``mine`` keeps its initialisation."""
    index_mine, index_other = [], []
    for n, m, end in zip(mine.shape, other.shape, ends):
        k = min(n, m)
        index_mine.append(slice(n - k, n) if end else slice(0, k))
        index_other.append(slice(m - k, m) if end else slice(0, k))
    part = other[tuple(index_other)]
    mine[tuple(index_mine)] = part
    return part.numel()


def _align(name: str, mine: torch.Tensor, other: torch.Tensor, cfg: ModelConfig,
           source: ModelConfig) -> tuple[str, int] | None:
    """Fit a pretrained weight of another shape into ``mine`` where its meaning carries over; returns
    how and the number of values copied, or None to leave it fresh.

    - context-indexed weights (the context tokens' ``position``, the token ``mixer``, the direct
      linear map of the context): the *latest* positions are kept, the forecast origin aligned;
      horizon rows are kept from the first step on;
    - per-target weights of a univariate model (the quantile head, ``rho_raw``): each of this
      model's targets starts from the pretrained model's target.

    Patch-indexed weights carry over only between models of the same patch length.
    """
    if mine.ndim != other.ndim:
        return None
    if name == "linear_path.context.weight":  # indexed by rows, not patches
        return "latest context steps, first horizon steps", _overlap(mine, other, (False, True))
    if name == "linear_path.context.bias":
        return "first horizon steps", _overlap(mine, other, (False,))
    if cfg.patch_len != source.patch_len:
        return None
    if name == "position" or name.endswith((".mixer.u", ".mixer.v")):
        return "latest context patches", _overlap(mine, other, (True,) + (False,) * (mine.ndim - 1))
    if name.endswith(".mixer.weight"):
        return "latest context patches", _overlap(mine, other, (True, True))
    channels = cfg.target
    if name == "rho_raw" and other.numel() == 1:
        mine.copy_(other.expand_as(mine))
        return "the pretrained target's, for each target", mine.numel()
    if name.startswith("quantile_head.proj.") and channels > 1:
        p, q = cfg.patch_len, len(cfg.quantiles)
        if other.shape[0] != p * q or mine.shape[0] != p * channels * q or mine.shape[1:] != other.shape[1:]:
            return None
        rest = tuple(other.shape[1:])  # the weight's input width; () for the bias
        mine.copy_(other.reshape(p, 1, q, *rest).expand(p, channels, q, *rest).reshape(mine.shape))
        return "the pretrained target's head, for each target", mine.numel()
    return None


def freeze(model: torch.nn.Module, finetune: str, report: InitReport | None = None) -> list[str]:
    """Stop gradients to the weights ``finetune`` freezes ('heads': the looped core); with a
    ``report``, only those it copied (a freshly initialised weight always trains). Returns their names."""
    prefixes = FROZEN[finetune]
    copied = set(report.copied) if report is not None else None
    frozen = []
    for name, param in model.named_parameters():
        if name.startswith(prefixes) and (copied is None or name in copied):
            param.requires_grad_(False)
            frozen.append(name)
    if report is not None:
        report.frozen = frozen
    return frozen
