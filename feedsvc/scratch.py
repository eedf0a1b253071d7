"""An unnamed file of byte strings by key, beside the state file: what a build makes
and reads again soon, in the OS's cache rather than in the process. Having no name,
the file is gone once closed (or let go), however the process ends."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, NamedTuple, TypeVar

K = TypeVar("K", bound=Hashable)


class _Span(NamedTuple):
    """Where one byte string is in the file."""

    offset: int
    length: int


class ScratchFile(Generic[K]):
    """Appended to, read at any offset; not for many writers at once (a build has one)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._file = tempfile.TemporaryFile(dir=folder, buffering=0)  # noqa: SIM115
        self._at: dict[K, _Span] = {}
        self._end = 0
        self._live = 0  # bytes some key refers to; the rest of the file is waste

    @property
    def waste(self) -> int:
        """Bytes of the file that no key refers to any more (replaced or let go)."""
        return self._end - self._live

    def __contains__(self, key: K) -> bool:
        return key in self._at

    def get(self, key: K) -> bytes | None:
        at = self._at.get(key)
        return None if at is None else os.pread(self._file.fileno(), at.length, at.offset)

    def put(self, key: K, data: bytes) -> None:
        self.discard(key)
        self._at[key] = _Span(self._append(self._file.fileno(), self._end, data), len(data))
        self._end += len(data)
        self._live += len(data)

    @staticmethod
    def _append(fd: int, end: int, data: bytes) -> int:
        view, written = memoryview(data), 0
        while written < len(data):  # pwrite may write less (a full disk raises OSError)
            written += os.pwrite(fd, view[written:], end + written)
        return end

    def discard(self, key: K) -> None:
        """One key let go (its bytes stay in the file until `compact` or `close`)."""
        at = self._at.pop(key, None)
        if at is not None:
            self._live -= at.length

    def forget(self, keep: Callable[[K], bool]) -> None:
        """The keys `keep` refuses (their bytes stay in the file until it is closed)."""
        self._at = {key: at for key, at in self._at.items() if keep(key)}
        self._live = sum(at.length for at in self._at.values())

    def compact(self) -> None:
        """The live bytes copied to a new file, the old one closed: its waste is gone."""
        new = tempfile.TemporaryFile(dir=self._folder, buffering=0)  # noqa: SIM115
        end, spans = 0, {}
        try:
            for key, at in self._at.items():
                data = os.pread(self._file.fileno(), at.length, at.offset)
                spans[key] = _Span(self._append(new.fileno(), end, data), at.length)
                end += at.length
        except BaseException:
            new.close()
            raise
        self._file.close()
        self._file, self._at, self._end = new, spans, end

    def close(self) -> None:
        self._file.close()
