import json

import pandas as pd
import pytest

from reports.io import atomic_path, atomic_write_csv, atomic_write_json
from reports.manifest import build_manifest


def test_atomic_csv_round_trip(tmp_path):
    df = pd.DataFrame({"layer": ["a", "b"], "cycles": [10, 20]})
    atomic_write_csv(tmp_path / "t.csv", df)
    assert pd.read_csv(tmp_path / "t.csv").equals(df)
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "r.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("{half")
            raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_manifest_has_revision_and_versions():
    m = build_manifest({"recipe": "semanticdialect"}, seeds={"sample": 0})
    assert m["config"] == {"recipe": "semanticdialect"} and m["seeds"] == {"sample": 0}
    assert m["packages"]["numpy"] is not None
    assert m["git_revision"]
