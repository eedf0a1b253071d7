"""An unnamed file of byte strings by key, beside the state file: what a build makes
and reads again soon, in the OS's cache rather than in the process. Having no name,
the file is gone once closed (or let go), however the process ends."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class ScratchFile(Generic[K]):
    """Appended to, read at any offset; not for many writers at once (a build has one)."""

    def __init__(self, folder: Path) -> None:
        self._file = tempfile.TemporaryFile(dir=folder, buffering=0)  # noqa: SIM115
        self._at: dict[K, tuple[int, int]] = {}  # offset, length
        self._end = 0

    def __contains__(self, key: K) -> bool:
        return key in self._at

    def get(self, key: K) -> bytes | None:
        at = self._at.get(key)
        return None if at is None else os.pread(self._file.fileno(), at[1], at[0])

    def put(self, key: K, data: bytes) -> None:
        view, written = memoryview(data), 0
        while written < len(data):  # pwrite may write less (a full disk raises OSError)
            written += os.pwrite(self._file.fileno(), view[written:], self._end + written)
        self._at[key] = (self._end, len(data))
        self._end += len(data)

    def forget(self, keep: Callable[[K], bool]) -> None:
        """The keys `keep` refuses (their bytes stay in the file until it is closed)."""
        self._at = {key: at for key, at in self._at.items() if keep(key)}

    def close(self) -> None:
        self._file.close()
