"""Files written whole, and folders of entries kept under a size cap.

Every file labkit keeps for later (a gradebook, an LMS export, a cache entry, a plot) is
written beside its place and moved there in one step: a reader, another worker or a Dask
task never sees it half written, and a run stopped midway leaves the earlier file as it was.

Usage::

    write_atomically(out / "gradebook.csv", lambda file: file.write(data))
    plots = Shelf(cache, ".png", max_bytes=2**28)
    plots.write(key, png)   # cache/ab/abcd....png; the least recently used go first
    plots.read(key)         # the bytes, or None
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Shelf:
    """One kind of entry in a cache folder: a file per key, named by its ``suffix``, the kind
    kept under ``max_bytes`` by dropping its least recently used entries. Kinds share a
    folder, each with a suffix and a cap of its own."""

    folder: Path
    suffix: str
    max_bytes: int

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}{self.suffix}"

    def read(self, key: str) -> bytes | None:
        """The entry's bytes, marked as recently used; None when there is none. One that
        cannot be read is dropped, to be written anew."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            self.drop(key)
            return None
        with contextlib.suppress(OSError):  # a cache that is read-only is still read
            path.touch()  # recently used: evicted last
        return data

    def drop(self, key: str) -> None:
        """Remove the entry: its reader found it damaged."""
        self.path(key).unlink(missing_ok=True)

    def write(self, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key``, whole or not at all, then keep the kind under its cap."""
        write_atomically(self.path(key), lambda file: file.write(data))
        self._evict()

    def _evict(self) -> None:
        entries = []
        for path in self.folder.glob(f"*/*{self.suffix}"):
            try:
                info = path.stat()
            except OSError:
                continue  # another worker removed it meanwhile
            entries.append((info.st_mtime, info.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
