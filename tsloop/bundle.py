"""The trained-model file: weights plus the plain-dict configs needed to use them.

Saved with ``torch.save`` and loaded with ``weights_only=True``: tensors, numbers,
strings, lists and dicts only, so a downloaded model file cannot run code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tsloop.version import __version__
from tsloop.errors import CheckpointError, TsloopError
from tsloop.output import atomic_path

FORMAT = "tsloop-bundle/1"


@dataclass
class Bundle:
    model_config: dict
    spec: dict
    scaler: dict
    state_dict: dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)  # fingerprint, train config, run id, version

    def save(self, path: str | Path) -> Path:
        """Write atomically: a temporary file in the same folder, then rename."""
        path = Path(path)
        payload = {
            "format": FORMAT,
            "version": __version__,
            "model_config": self.model_config,
            "spec": self.spec,
            "scaler": self.scaler,
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()},
            "meta": self.meta,
        }
        payload["checksum"] = checksum(payload["state_dict"])
        # a temporary beside it, renamed when whole; one a killed writer left is cleared by the next save
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            torch.save(payload, handle)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Bundle":
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"model file {path} does not exist; train one with `tsloop train` first")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise CheckpointError(
                f"{path} is not a readable tsloop model file ({type(err).__name__}: {str(err)[:200]}). "
                "It may be truncated or corrupted, or not a tsloop model; re-export it from the training "
                "run (the `model.pt` artifact of its MLflow run)."
            ) from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise CheckpointError(
                f"{path} is not a tsloop model file (expected format {FORMAT!r}, "
                f"found {payload.get('format') if isinstance(payload, dict) else type(payload).__name__!r})"
            )
        stored = payload.get("checksum")  # files written before checksums existed have none
        if stored is not None and stored != checksum(payload.get("state_dict", {})):
            raise CheckpointError(
                f"{path} is corrupted: its weights do not match the checksum stored when it was written "
                "(the file was damaged on disk or in transfer). Re-export it from the training run "
                "(the `model.pt` artifact of its MLflow run) or retrain."
            )
        return cls(
            model_config=payload["model_config"],
            spec=payload["spec"],
            scaler=payload["scaler"],
            state_dict=payload["state_dict"],
            meta=payload.get("meta", {}),
        )


def checksum(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over the names, dtypes, shapes and bytes of the weights, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()
