"""Write a folder whole or not at all: into a temporary folder on the same disk, then renamed
into place. A write that fails or is killed leaves no half-written folder where the finished
one belongs (a killed one leaves only scratch, which ``Workspace.sweep_scratch`` removes)."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from core.errors import InputError


@contextmanager
def atomic_folder(target: Path, *, scratch: Optional[Path] = None, prefix: Optional[str] = None) -> Iterator[Path]:
    """``with atomic_folder(target) as tmp:`` write the folder's files into ``tmp``; when the
    block ends without an exception, ``tmp`` becomes ``target``. A folder already at ``target``
    is replaced: it is moved aside first and removed only once the new one is in place. On an
    exception the temporary folder is removed and ``target`` is left as it was.

    ``scratch`` is where the temporary folder is made (default: beside ``target``); it must be
    on the same disk as ``target``, so that the final step is a rename, not a copy."""
    target = Path(target)
    where = Path(scratch) if scratch is not None else target.parent
    tmp = Path(tempfile.mkdtemp(prefix=prefix or f".{target.name}.", dir=where))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            try:
                tmp.rename(target)
            except BaseException:
                old.rename(target)  # the old folder back where it was
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def free_bytes(folder: Path) -> int:
    """Bytes free on the disk that holds ``folder`` (or its nearest existing parent)."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def check_room(folder: Path, needed: int, what: str) -> None:
    """Refuse, before anything is written, to write ``what`` (about ``needed`` bytes) into
    ``folder`` when its disk has less free."""
    free = free_bytes(folder)
    if free < needed:
        raise InputError(f"Not enough free disk space for {what}: it needs about {_size(needed)} and "
                         f"{folder} has {_size(free)} free. Free some space or choose a folder on another disk.")


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"
