"""Writing results: atomically (temporary file, then rename), so a failure leaves no partial file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd

from tsloop.errors import TsloopError

TABLE_SUFFIXES = (".parquet", ".csv", ".json")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as err:
        raise TsloopError(
            f"cannot write {path}: {err.strerror or err} (folder {path.parent}); "
            "choose a writable output folder with --out"
        ) from None
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        raise TsloopError(
            f"writing {path} failed: {err.strerror or err}; nothing was written (is the disk full or the "
            "folder read-only?)"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as Parquet, CSV or JSON (records) by the file's suffix."""
    path = Path(path)
    if path.suffix not in TABLE_SUFFIXES:
        raise TsloopError(f"output {path}: unsupported suffix {path.suffix!r}; use one of {TABLE_SUFFIXES}")
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        elif path.suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", date_format="iso", indent=1)
    return path


def write_json(payload: dict, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=str))
    return path
