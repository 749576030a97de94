"""Pretrained model files: where the shipped one lives, how one is written and checked.

A pretrained model is an ordinary model file (:class:`tsloop.bundle.Bundle`, loaded with
``weights_only=True`` and its weights' checksum) whose ``meta["pretrained"]`` says so: a
*universal* univariate model trained channel-independently on the pretraining corpus
(``pipelines/pretrain/train.py``). Beside it, ``<file>.sha256`` holds the sha256 of the whole
file; the shipped one (``tsloop/pretrained/tsloop-small.pt``) must have it, a file given by path
is checked against it when it is there.

Example (the shipped checkpoint: a univariate model, context 512 and horizon 64 rows)::

    >>> from tsloop.query.pretrained import resolve, load_pretrained
    >>> resolve(None).name
    'tsloop-small.pt'
    >>> bundle = load_pretrained(None)
    >>> cfg = bundle.model_config
    >>> cfg["target"], cfg["context_length"], cfg["horizon"], bundle.meta["pretrained"]["compute"]["steps"]
    (1, 512, 64, 10000)
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from tsloop.bundle import Bundle
from tsloop.errors import CheckpointError
from tsloop.output import atomic_path

FORMAT = "tsloop-pretrained/1"
SHIPPED = "tsloop-small.pt"  # in the package data folder tsloop/pretrained/
KEYWORD = "pretrained"  # `--model pretrained`, `--init pretrained`: the shipped checkpoint
BUILD = ("python -m pipelines.pretrain.corpus --out outputs/corpus && python -m pipelines.pretrain.train "
         "--corpus outputs/corpus --out outputs/pretrain --max-steps 10000 --lr-schedule cosine")


def shipped_path() -> Path:
    """Where the package keeps its pretrained checkpoint (whether or not one is there)."""
    return Path(str(resources.files("tsloop"))) / "pretrained" / SHIPPED


def resolve(ref: str | Path | None) -> Path:
    """The model file of ``ref``: None or ``"pretrained"`` -> the shipped checkpoint (an error
    saying how to build one when none is shipped), a folder -> its ``model.pt``, else the path."""
    if ref is None or str(ref) == KEYWORD:
        path = shipped_path()
        if not path.is_file():
            raise CheckpointError(
                f"no pretrained checkpoint is shipped with this version of tsloop (looked for {path}). "
                f"Build one from the pretraining corpus with `{BUILD}` and pass its file, e.g. "
                "`--model outputs/pretrain/model.pt` (Forecaster.pretrained('outputs/pretrain/model.pt')); "
                f"to ship it, copy model.pt and model.pt.sha256 to {path} and {path}.sha256."
            )
        if not sidecar(path).is_file():
            raise CheckpointError(f"the shipped checkpoint {path} has no checksum file {sidecar(path).name} beside it; "
                                  "the installation is incomplete: reinstall tsloop.")
        return path
    path = Path(ref)
    return path / "model.pt" if path.is_dir() else path


def sidecar(path: Path) -> Path:
    """The checksum file beside a model file: ``<file>.sha256``."""
    return path.with_name(path.name + ".sha256")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sidecar(path: Path) -> None:
    """CheckpointError if ``<file>.sha256`` exists and does not match the file's bytes."""
    side = sidecar(path)
    if not side.is_file() or not path.is_file():
        return
    words = side.read_text().split()
    if not words or words[0].lower() != file_sha256(path):
        raise CheckpointError(
            f"{path} does not match its checksum file {side.name} (the file was changed or damaged after it "
            "was written). Copy the model file and its .sha256 again from the pretraining output, or rebuild it."
        )


def load_pretrained(ref: str | Path | None = None) -> Bundle:
    """The bundle of a pretrained model: the shipped one (None) or a file or folder; checked by
    its checksum file (if present; required for the shipped one), its weights' checksum and its
    ``meta["pretrained"]``."""
    path = resolve(ref)
    check_sidecar(path)
    bundle = Bundle.load(path)
    if not is_pretrained(bundle.meta):
        raise CheckpointError(
            f"{path} is a model trained for one task, not a pretrained model (its file carries no "
            "'pretrained' record). Use it with `--model` as it is, or build a pretrained model with "
            f"`{BUILD}`."
        )
    return bundle


def is_pretrained(meta: dict) -> bool:
    return isinstance(meta.get("pretrained"), dict) and meta["pretrained"].get("format") == FORMAT


def write_pretrained(bundle: Bundle, path: str | Path, record: dict) -> Path:
    """Save ``bundle`` as a pretrained model file with ``record`` in ``meta["pretrained"]``, and
    its ``.sha256`` beside it (written after the file, so a checksum never names a partial file)."""
    path = Path(path)
    bundle.meta = {**bundle.meta, "pretrained": {"format": FORMAT, **record}}
    bundle.save(path)
    with atomic_path(sidecar(path)) as tmp:
        tmp.write_text(f"{file_sha256(path)}  {path.name}\n")
    return path
