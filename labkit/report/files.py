"""Files written whole, and folders of entries kept under a size cap.

Every file labkit keeps for later (a gradebook, an LMS export, a cache entry, a plot) is
written beside its place and moved there in one step: a reader, another worker or a Dask
task never sees it half written, and a run stopped midway leaves the earlier file as it was.

Usage::

    write_atomically(out / "gradebook.csv", lambda file: file.write(data))
    path = entry_path(cache, key, ".png")    # cache/ab/abcd....png
    evict(cache, ".png", max_bytes=2**28)    # the least recently used go first
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``path`` with ``write``, whole or not at all: a reader never sees it half done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".partial", delete=False) as partial:
        try:
            write(partial)
        except BaseException:
            partial.close()
            os.unlink(partial.name)
            raise
    os.replace(partial.name, path)


def entry_path(folder: Path, key: str, suffix: str) -> Path:
    """Where the entry ``key`` of a kind (its ``suffix``) lives in a cache ``folder``."""
    return folder / key[:2] / f"{key}{suffix}"


def evict(folder: Path, suffix: str, max_bytes: int) -> None:
    """Keep the entries of one kind under ``max_bytes``, dropping the least recently used."""
    entries = []
    for path in folder.glob(f"*/*{suffix}"):
        try:
            info = path.stat()
        except OSError:
            continue  # another worker removed it meanwhile
        entries.append((info.st_mtime, info.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size
