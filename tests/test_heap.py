"""The C allocator's settings for long-lived processes (feedsvc/heap.py)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from feedsvc import heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_glibc_takes_the_settings_in_a_fresh_process() -> None:
    code = "from feedsvc import heap; print(heap.keep_small())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_elsewhere_nothing_is_changed(monkeypatch) -> None:
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    assert heap.keep_small() is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_memory_freed_below_what_is_kept_goes_back_to_the_system() -> None:
    """A server keeps what it holds above what a build freed: the heap cannot shrink
    past it, but its free pages can be returned."""
    code = """
from pathlib import Path
from feedsvc import heap
heap.keep_small()
def resident():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS:"))
    return int(line.split()[1]) // 1024
held = [bytes(1000) for _ in range(200_000)]  # under the mmap threshold: in the heap
del held[:150_000]  # freed, below what is still held
before = resident()
heap.give_back()
print(before, resident())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = map(int, out.stdout.split())
    assert after < before - 100, (before, after)  # of about 150 MB freed, in MB
