"""Where task data lives: the shared data root, and the folder rule for task files.

``shared:<path>`` names a file under the data root: ``$TSLOOP_DATA_DIR``, or by default the
``shared/data`` folder beside the project checkout. Any other relative path is relative to the
task file's folder and may not leave it unless the task says ``allow_outside: true`` (a path
given on the command line is the user's explicit choice and may lie anywhere).
"""

from __future__ import annotations

import os
from pathlib import Path

from tsloop.errors import SpecError

SHARED_PREFIX = "shared:"
DATA_DIR_ENV = "TSLOOP_DATA_DIR"


def data_root() -> Path:
    """The folder holding the shared datasets: ``$TSLOOP_DATA_DIR``, else ``shared/data`` beside the checkout."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    # resolved, so a shared/ that is a symlink still contains the files it names
    return (Path(__file__).resolve().parents[2].parent / "shared" / "data").resolve()


def require_data_root() -> Path:
    """:func:`data_root`, raising a SpecError that says how to point at it when it is absent."""
    root = data_root()
    if not root.is_dir():
        source = f"${DATA_DIR_ENV}" if os.environ.get(DATA_DIR_ENV) else "the default location"
        raise SpecError(
            f"the data root {root} (from {source}) does not exist. Set {DATA_DIR_ENV} to the folder "
            "that holds the shared datasets (the one with MANIFEST.md, e.g. export "
            f"{DATA_DIR_ENV}=/path/to/shared/data), or give the data file's own path instead of 'shared:...'."
        )
    return root


def resolve_path(data: str, base_dir: Path | None, allow_outside: bool) -> Path:
    """The file a task's ``data:`` value names (see the module docstring); SpecError if absent or not allowed."""
    if data.startswith(SHARED_PREFIX):
        root = require_data_root()
        path = (root / data[len(SHARED_PREFIX) :].lstrip("/")).resolve()
        if not path.is_relative_to(root):
            raise SpecError(f"data: {data!r} leaves the data root {root}; use a path inside it.")
    else:
        base = (base_dir or Path.cwd()).resolve()
        path = (base / Path(data).expanduser()).resolve()
        if not allow_outside and not path.is_relative_to(base):
            raise SpecError(
                f"data: {data!r} resolves to {path}, outside the task file's folder {base}. "
                "Task files may only read data beside them, so a shared task cannot read arbitrary "
                "files. To allow it, add 'allow_outside: true' to the task file, use "
                f"'{SHARED_PREFIX}<path>' for the shared datasets, or pass the path explicitly "
                "with --data on the command line."
            )
    if not path.is_file():
        if data.startswith(SHARED_PREFIX):
            source = f"${DATA_DIR_ENV}" if os.environ.get(DATA_DIR_ENV) else "the default data root"
            raise SpecError(
                f"data file {path} (from data: {data!r}) not found in the data root {root} ({source}). Set "
                f"{DATA_DIR_ENV} to the folder holding the shared datasets, or see the dataset's card in "
                "datasets/ for how to obtain the file."
            )
        raise SpecError(f"data file {path} (from data: {data!r}) not found.")
    return path
