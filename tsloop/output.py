"""Writing results: atomically (temporary file, then rename), so a failure leaves no partial file."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from tsloop.errors import TsloopError

TABLE_SUFFIXES = (".parquet", ".csv", ".json")


def _read_umask() -> int:
    mask = os.umask(0o022)  # the umask can only be read by setting it: once, at import
    os.umask(mask)
    return mask


UMASK = _read_umask()


def match_mode(tmp: str | Path, target: str | Path) -> None:
    """Give a temporary the permissions of the file it will replace, or those of a new file
    (0o666 less the umask): ``mkstemp`` makes it readable by its owner only."""
    try:
        mode = Path(target).stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~UMASK
    os.chmod(tmp, mode)


def _clear_stale(path: Path) -> None:
    """Remove temporary files beside ``path`` left by writers that were killed (their pid is gone)."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = stale.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


@contextlib.contextmanager
def _temporary_beside(path: Path) -> Iterator[Path]:
    """A temporary file in ``path``'s folder (so the rename is atomic), named with this process's
    id so a later writer can tell it from one still being written; removed unless renamed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _clear_stale(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        match_mode(tmp, path)
    except OSError as err:
        raise TsloopError(
            f"cannot write {path}: {err.strerror or err} (folder {path.parent}); "
            "choose a writable output folder with --out"
        ) from None
    tmp = Path(tmp)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _failed(path: Path, err: OSError) -> TsloopError:
    return TsloopError(
        f"writing {path} failed: {err.strerror or err}; nothing was written (is the disk full or the "
        "folder read-only?)"
    )


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds."""
    path = Path(path)
    with _temporary_beside(path) as tmp:
        try:
            yield tmp
            os.replace(tmp, path)
        except OSError as err:
            raise _failed(path, err) from None


def _check_suffix(path: Path) -> None:
    if path.suffix not in TABLE_SUFFIXES:
        raise TsloopError(f"output {path}: unsupported suffix {path.suffix!r}; use one of {TABLE_SUFFIXES}")


def _write_frame(frame: pd.DataFrame, suffix: str, tmp: Path) -> None:
    if suffix == ".parquet":
        frame.to_parquet(tmp, index=False)
    elif suffix == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        frame.to_json(tmp, orient="records", date_format="iso", indent=1)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as Parquet, CSV or JSON (records) by the file's suffix."""
    return write_tables([(frame, path)])[0]


def write_tables(tables: list[tuple[pd.DataFrame, str | Path]]) -> list[Path]:
    """Write tables that belong together, all or none: each goes to a temporary file first, and
    only once every one is complete are they renamed into place, in the order given (so give the
    file users look for last). A kill while writing leaves none of them; a failed rename removes
    those already renamed."""
    paths = [Path(p) for _, p in tables]
    for path in paths:
        _check_suffix(path)
    with contextlib.ExitStack() as stack:
        temps = [stack.enter_context(_temporary_beside(path)) for path in paths]
        for (frame, _), path, tmp in zip(tables, paths, temps):
            try:
                _write_frame(frame, path.suffix, tmp)
            except OSError as err:
                raise _failed(path, err) from None
        placed: list[Path] = []
        for path, tmp in zip(paths, temps):
            try:
                os.replace(tmp, path)
            except OSError as err:
                for done in placed:
                    done.unlink(missing_ok=True)
                raise _failed(path, err) from None
            placed.append(path)
    return paths


def write_json(payload: dict, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=str))
    return path
