"""Writing export files: no overwrite by accident, no partial files.

A file is written beside its target and moved into place only once complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ExportError


def _target(path: str | Path, overwrite: bool) -> Path:
    target = Path(path).expanduser()
    if target.is_dir():
        raise ExportError(f"{target} is a folder: give a file name")
    if target.exists() and not overwrite:
        raise ExportError(f"{target} already exists: choose another name or pass overwrite=True")
    if not target.parent.is_dir():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ExportError(f"cannot create the folder {target.parent}: {e.strerror}") from e
    return target


@contextmanager
def _atomic(target: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary file beside ``target``, moved into place only if the block succeeds."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _publish(tmp, target, overwrite)
    finally:
        tmp.unlink(missing_ok=True)


def _publish(tmp: Path, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # fails if someone created the file meanwhile: nothing clobbered
    except FileExistsError:
        raise ExportError(
            f"{target} already exists: choose another name or pass overwrite=True"
        ) from None
    except OSError:  # no hard links on this file system
        if target.exists():
            raise ExportError(f"{target} already exists: pass overwrite=True") from None
        os.replace(tmp, target)


def _write_bytes(content: bytes, target: Path, overwrite: bool) -> None:
    with _atomic(target, overwrite) as tmp:
        tmp.write_bytes(content)
