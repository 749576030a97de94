"""Adapt a pretrained model to a task: its size, every weight whose name and shape match, and
optionally a frozen looped core (``TrainConfig.init`` and ``TrainConfig.finetune``).

The task's model is built from the pretrained config with the task's channels, context and
horizon (:func:`init_config`); weights that depend on those (the patch embeddings of a wider
input, the heads of more targets, the context's position and token-mixing maps of another
context length) keep their fresh initialisation, and the report names them.

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
    init from .../model.pt: copied 38 of 43 weight tensors (81.5% of values); fresh: rho_raw, obs_embed.target.proj.weight, ...
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


@dataclass
class InitReport:
    """What ``initialise`` copied from the pretrained model and what it left fresh."""

    source: str
    copied: list[str]  # state-dict names copied
    fresh: list[str]  # "name (why)": not in the pretrained model, or another shape
    copied_values: int
    total_values: int
    frozen: list[str] = field(default_factory=list)  # parameter names frozen by ``freeze``

    def summary(self) -> str:
        """One line: counts, share of values, the fresh weights (first few) and the frozen count."""
        total = len(self.copied) + len(self.fresh)
        share = 100.0 * self.copied_values / max(1, self.total_values)
        names = [f.split(" ")[0] for f in self.fresh]
        shown = ", ".join(names[:8]) + (f" ... ({len(names)} in all)" if len(names) > 8 else "")
        line = (f"init from {self.source}: copied {len(self.copied)} of {total} weight tensors ({share:.1f}% of values); "
                f"fresh: {shown or 'none'}")
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
    copied, fresh, done, total = [], [], 0, 0
    with torch.no_grad():
        for name, tensor in model.state_dict().items():  # tensors that share the model's storage
            total += tensor.numel()
            other = theirs.get(name)
            if other is None:
                fresh.append(f"{name} (not in the pretrained model)")
            elif tuple(other.shape) != tuple(tensor.shape):
                fresh.append(f"{name} (shape {tuple(tensor.shape)} here, {tuple(other.shape)} there)")
            else:
                tensor.copy_(other)
                copied.append(name)
                done += tensor.numel()
    if not copied:
        raise CheckpointError(f"{source} shares no weight of matching name and shape with this model: it is not a "
                              "tsloop model of a compatible version; train without --init or rebuild it.")
    return InitReport(source, copied, fresh, done, total)


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
