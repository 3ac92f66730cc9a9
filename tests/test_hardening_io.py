"""Report files get the permissions a plain open() would give them (0o666 less the umask), not mkstemp's 0o600."""
import os
import stat

import pandas as pd
import pytest

from reports.io import atomic_path, atomic_write_bytes, atomic_write_csv, atomic_write_json, atomic_write_text


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_atomic_writes_respect_the_umask(tmp_path, umask):
    want = 0o666 & ~umask
    written = [atomic_write_bytes(tmp_path / "a.bin", b"x"), atomic_write_text(tmp_path / "b.txt", "x"),
               atomic_write_json(tmp_path / "c.json", {"a": 1}),
               atomic_write_csv(tmp_path / "d.csv", pd.DataFrame({"a": [1]}))]
    with atomic_path(tmp_path / "e.png") as tmp:
        tmp.write_bytes(b"\x89PNG")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert _mode(plain) == want
    files = written + [tmp_path / "e.png"]
    assert {p.name: _mode(p) for p in files} == {p.name: want for p in files}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt", "c.json", "d.csv", "e.png", "plain.txt"]


def test_overwrite_keeps_umask_mode(tmp_path, umask):
    p = tmp_path / "r.json"
    atomic_write_json(p, {"v": 1})
    atomic_write_json(p, {"v": 2})
    assert _mode(p) == 0o666 & ~umask and p.read_text().strip().endswith("}")
