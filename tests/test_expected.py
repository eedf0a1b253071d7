"""The export of the sample articles, byte for byte, against tests/expected/export.

When a change to the output is intended: `python -m tests.expected`, then review the
diff of tests/expected/ and commit it with the change.
"""

from __future__ import annotations

from pathlib import Path

from .expected import EXPECTED, export_samples, files


def test_the_samples_export_to_the_expected_bytes(tmp_path: Path) -> None:
    out = export_samples(tmp_path)
    got = files(out)
    want = files(EXPECTED)
    plain = {name for name in got if not name.endswith(".gz")}
    assert plain == set(want), "files added or missing: regenerate only if intended"
    for name in sorted(plain):
        assert got[name] == want[name], f"{name} differs from tests/expected/export/{name}"
        assert got[name + ".gz"] == want[name], f"{name}.gz does not hold {name}"
