"""MXFP4, NVFP4 and MXFP8 (fp8_e4m3_g32) against torchao's mx_formats, bit for bit: quantized bytes, block scales,
tensor scale and dequantized float32 values.

Without torchao: the committed vectors tests/golden/torchao_mx_formats.json (written by
`python -m quant.golden_torchao --regen`) against every back end.  With torchao (the `dev` extra): the committed
file against the installed torchao, and random tensors against torchao directly.  The one documented difference
(MX blocks with E8M0 code 0, docs/formats.md#torchao) is checked to be exactly what the docs say."""
import json
from pathlib import Path

import numpy as np
import pytest

import quant
from quant import golden_torchao
from quant.formats import E2M1, FP8_E4M3

GOLDEN = json.loads((Path(__file__).parent / "golden" / golden_torchao.FILE).read_text())
CASES = {c["name"]: c for c in GOLDEN["cases"]}
BACKENDS = ["reference", "numba", "accel", pytest.param("triton", marks=pytest.mark.triton)]


def bits(values) -> np.ndarray:
    return np.asarray(values, np.float32).view(np.uint32)


def differing_blocks(x: np.ndarray, scale_e8m0: np.ndarray) -> np.ndarray:
    """(R, nb) True where torchao's MX formats depart from the E8M0 scale they store: code 0, non-zero block."""
    r, k = x.shape
    return (scale_e8m0.reshape(r, -1) == 0) & (np.abs(x).reshape(r, k // 32, 32).max(axis=-1) > 0)


def compare(q, case, x, skip_blocks=None):
    """Assert q equals torchao's result in `case` outside `skip_blocks` ((R, nb) bool)."""
    r, k = x.shape
    nb = k // q.block
    keep = np.ones((r, nb), bool) if skip_blocks is None else ~skip_blocks
    per_block = q.block * q.format.element_bits // 8
    ours_bytes = q.codes.reshape(r, nb, per_block)
    theirs = np.frombuffer(bytes.fromhex(case["qdata"]), np.uint8).reshape(r, nb, per_block)
    assert (ours_bytes[keep] == theirs[keep]).all(), "element bytes differ"
    deq = q.dequantize().reshape(r, nb, q.block)
    assert (bits(deq)[keep] == bits(case["dequantized"]).reshape(r, nb, q.block)[keep]).all(), "dequantized bits"
    if case["format"] in ("mxfp4", "fp8_e4m3_g32"):
        assert (q.exponent.astype(np.int64) + 127 == np.reshape(case["scale_e8m0"], (r, nb))).all()
    else:
        theirs_s = FP8_E4M3.decode(np.reshape(case["scale_e4m3"], (r, nb))).astype(np.float32)
        assert (bits(q.scale) == bits(theirs_s)).all(), "E4M3 block scales differ"
        assert bits([q.tensor_scale]) == bits([case["tensor_scale"]])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_vectors(name, backend):
    case = CASES[name]
    x = np.array(case["x"], np.float32).reshape(case["shape"])
    q = quant.quantize(x, case["format"], backend=backend)
    skip = None
    if case.get("known_difference") == golden_torchao.SMALLEST_SCALE:
        skip = differing_blocks(x, np.array(case["scale_e8m0"]))
        assert skip.any() and not skip.all()
    compare(q, case, x, skip)


def test_mxfp8_smallest_scale_difference_is_the_documented_one():
    """As for MXFP4: torchao scales E8M0-code-0 blocks (amax < 2^-118 for MXFP8) by 2^-126, decodes with 2^-127."""
    case = CASES["fp8_e4m3_g32_smallest_scale_blocks"]
    x = np.array(case["x"], np.float32).reshape(case["shape"])
    blocks = differing_blocks(x, np.array(case["scale_e8m0"])).reshape(-1)
    assert blocks.any() and not blocks.all()
    xb = x.reshape(-1, 32)[blocks].astype(np.float64)
    theirs = np.frombuffer(bytes.fromhex(case["qdata"]), np.uint8).reshape(-1, 32)[blocks]
    assert (theirs == FP8_E4M3.encode(xb * 2.0 ** 126, signed_zero=True)).all()
    ours = quant.quantize(x, "fp8_e4m3_g32").codes.reshape(-1, 32)[blocks]
    assert (ours == FP8_E4M3.encode(xb * 2.0 ** 127, signed_zero=True)).all() and (ours != theirs).any()


def test_smallest_scale_difference_is_the_documented_one():
    """For MXFP4 blocks with E8M0 code 0 (amax < 2^-124) torchao divides by float32's smallest normal 2^-126
    but decodes with 2^-127; the library scales by 2^-127 both ways (docs/formats.md#torchao)."""
    case = next(c for c in GOLDEN["cases"] if c.get("known_difference") == golden_torchao.SMALLEST_SCALE)
    x = np.array(case["x"], np.float32).reshape(case["shape"])
    blocks = differing_blocks(x, np.array(case["scale_e8m0"]))
    xb = x.reshape(-1, 32)[blocks.reshape(-1)].astype(np.float64)
    theirs = quant.unpack_nibbles(np.frombuffer(bytes.fromhex(case["qdata"]), np.uint8).reshape(x.shape[0], -1))
    theirs = theirs.reshape(-1, 32)[blocks.reshape(-1)]
    assert (theirs == E2M1.encode(xb * 2.0 ** 126, signed_zero=True)).all()
    deq = bits(case["dequantized"]).reshape(-1, 32)[blocks.reshape(-1)]
    assert (deq == bits(E2M1.decode(theirs) * 2.0 ** -127)).all()           # half of x: scaled 2^126, decoded 2^-127
    q = quant.quantize(x, "mxfp4")
    ours = q.element_codes().reshape(-1, 32)[blocks.reshape(-1)]
    assert (ours == E2M1.encode(xb * 2.0 ** 127, signed_zero=True)).all() and (ours != theirs).any()


# ---- with torchao installed (the `dev` extra) -------------------------------------------------------------
def test_committed_vectors_match_installed_torchao():
    pytest.importorskip("torchao.prototype.mx_formats.nvfp4_tensor")
    out = golden_torchao.diff()
    assert out == "", f"{golden_torchao.FILE} is stale; run `python -m quant.golden_torchao --regen`:\n{out}"


def _random(seed: int) -> np.ndarray:
    """64 x 256 like the issue's example: normal rows with per-row magnitudes, +0.0 and -0.0 sprinkled in."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((64, 256)) * np.exp2(rng.integers(-20, 20, (64, 1)))).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = 0.0
    x[rng.random(x.shape) < 0.05] = -0.0
    return x


@pytest.mark.parametrize("backend", ["reference", "numba"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_tensors_match_torchao(seed, backend):
    pytest.importorskip("torchao.prototype.mx_formats.nvfp4_tensor")
    x = _random(seed)
    mx = golden_torchao.torchao_mxfp4(x)
    q = quant.quantize(x, "mxfp4", backend=backend)
    assert not differing_blocks(x, np.array(mx["scale_e8m0"])).any()
    compare(q, {"format": "mxfp4", **mx}, x)
    assert (q.element_codes() == 8).sum() > 100                   # the case exercises E2M1's negative zero
    nv = golden_torchao.torchao_nvfp4(x)
    compare(quant.quantize(x, "nvfp4", backend=backend), {"format": "nvfp4", **nv}, x)
    m8 = golden_torchao.torchao_mxfp8(x)
    q8 = quant.quantize(x, "fp8_e4m3_g32", backend=backend)
    assert not differing_blocks(x, np.array(m8["scale_e8m0"])).any()
    compare(q8, {"format": "fp8_e4m3_g32", **m8}, x)
    assert (q8.codes == 0x80).sum() > 100                         # E4M3's negative zero is exercised
