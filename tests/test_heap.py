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
