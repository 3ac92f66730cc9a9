"""Golden vectors (tests/golden/*.json, hand-computed for MXFP4/NVFP4; see quant/golden.py) against the library.

Regenerate with `python -m quant.golden --regen` (prints the diff versus the committed files)."""
import json
from pathlib import Path

import numpy as np
import pytest

import quant
from quant import golden

GOLDEN = Path(__file__).parent / "golden"
FILES = sorted(golden.GOLDEN_FILES)


def load(name):
    return json.loads((GOLDEN / name).read_text())


def cases():
    return [(f, c["name"]) for f in FILES for c in load(f)["cases"]]


def f32_bits(values):
    a = np.asarray(values, dtype=np.float64)
    assert (a.astype(np.float32).astype(np.float64) == a).all(), "golden value not representable in float32"
    return a.astype(np.float32).view(np.uint32).tolist()


@pytest.mark.parametrize("fname,case", cases())
def test_library_matches_golden(fname, case):
    data = load(fname)
    c = next(c for c in data["cases"] if c["name"] == case)
    x = np.array([c["x"]], np.float32)
    q = quant.quantize(x, data["format"], selector=data.get("selector"))
    assert q.block == data["block"]
    assert q.element_codes()[0].tolist() == c["codes"]
    if "exponent" in c:
        assert q.exponent[0].tolist() == c["exponent"]
    if "dialect" in c:
        assert q.dialect[0].tolist() == c["dialect"]
    if "scales" in c:
        assert q.scale[0].view(np.uint32).tolist() == f32_bits(c["scales"])
        assert f32_bits([q.tensor_scale]) == f32_bits([c["tensor_scale"]])
    if "dequantized" in c:
        assert q.dequantize()[0].view(np.uint32).tolist() == f32_bits(c["dequantized"])


def test_committed_files_match_the_spec():
    """The committed files are exactly what quant.golden generates (hand values checked inside generation)."""
    diff = golden.diff_all(GOLDEN)
    assert diff == "", f"golden files are stale; run `python -m quant.golden --regen`:\n{diff}"


def test_hand_computation_is_checked(monkeypatch):
    """A wrong hand-computed code makes generation fail (the check is live, not decorative)."""
    bad = [dict(c) for c in golden.MXFP4_CASES]
    bad[0]["codes"] = [6] + bad[0]["codes"][1:]
    monkeypatch.setattr(golden, "MXFP4_CASES", bad)
    with pytest.raises(AssertionError, match="hand-computed codes"):
        golden.mxfp4_file()


def test_spec_and_library_agree_on_random_blocks():
    """The pure-Python spec in quant.golden agrees with the library beyond the committed cases."""
    rng = np.random.default_rng(4)
    x = (rng.standard_t(2, (6, 64)) * 2.0 ** rng.integers(-30, 30, (6, 1))).astype(np.float32)
    for row in x:
        vals = [float(v) for v in row]
        q = quant.quantize(row[None], "mxfp4")
        blocks = [golden.mxfp4_block(vals[b:b + 32]) for b in (0, 32)]
        assert q.exponent[0].tolist() == [b[0] for b in blocks]
        assert q.element_codes()[0].tolist() == blocks[0][1] + blocks[1][1]
        g, scales, codes, _ = golden.nvfp4_tensor(vals)
        qn = quant.quantize(row[None], "nvfp4")
        assert qn.element_codes()[0].tolist() == codes and qn.scale[0].tolist() == scales
        assert np.float32(qn.tensor_scale) == np.float32(g)
        ql = quant.quantize(row[None], "dialectfp4")
        lut = [golden.lut_argmin_block(vals[b:b + 32]) for b in (0, 32)]
        assert ql.dialect[0].tolist() == [b[0] for b in lut]
        assert ql.element_codes()[0].tolist() == lut[0][2] + lut[1][2]
