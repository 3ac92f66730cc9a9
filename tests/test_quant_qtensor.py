"""QTensor: packing, exact byte round trip for every format, truncation refused, bits per element."""
import numpy as np
import pytest

import quant
from quant import QTensor, QuantError, pack_nibbles, unpack_nibbles
from quant.learn import learn_formatbook

FORMATS = ["dialectfp4", "mxfp4", "nvfp4", "int4_g32", "int4_g128", "int8"]


def sample(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_t(3, shape) * 10.0 ** rng.uniform(-3, 3)).astype(np.float32)


def test_nibble_order_low_first():
    assert pack_nibbles(np.array([[1, 2, 0xF, 0]])).tolist() == [[0x21, 0x0F]]
    every_byte = np.arange(256, dtype=np.uint8)[None]
    assert pack_nibbles(unpack_nibbles(every_byte)).tobytes() == every_byte.tobytes()
    assert unpack_nibbles(np.array([[0xA5]], np.uint8)).tolist() == [[5, 0xA]]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 40), (2, 3, 70), (4, 256)])
def test_byte_round_trip(fmt, shape):
    q = quant.quantize(sample(shape), fmt)
    data = q.to_bytes()
    q2 = QTensor.from_bytes(data)
    assert q2.equal_bits(q) and q2.to_bytes() == data
    assert q2.dequantize().tobytes() == q.dequantize().tobytes() and q2.dequantize().shape == shape


def test_round_trip_keeps_selector_metadata():
    q = quant.quantize(sample((2, 64)), "dialectfp4", selector="two_stage", threshold=2)
    q2 = QTensor.from_bytes(q.to_bytes())
    assert q2.meta == q.meta == {"book": "dialectfp4", "selector": "two_stage", "threshold": 2}


@pytest.mark.parametrize("fmt", ["dialectfp4", "nvfp4"])
def test_truncated_and_padded_bytes_refused(fmt):
    data = quant.quantize(sample((2, 48)), fmt).to_bytes()
    for cut in range(len(data)):
        with pytest.raises(QuantError):
            QTensor.from_bytes(data[:cut])
    with pytest.raises(QuantError, match="trailing"):
        QTensor.from_bytes(data + b"\0")
    with pytest.raises(QuantError, match="magic"):
        QTensor.from_bytes(b"XXXX" + data[4:])


@pytest.mark.parametrize("field", ["codes", "dialect", "exponent", "scale"])
def test_equal_bits_sees_one_flipped_bit(field):
    fmt = "nvfp4" if field == "scale" else "dialectfp4"
    q = quant.quantize(sample((2, 64)), fmt)
    raw = bytearray(q.to_bytes())
    arr = getattr(q, field).copy()
    arr.view(np.uint8).reshape(-1)[0] ^= 1
    changed = QTensor(q.fmt, q.shape, q.block, **{**{n: getattr(q, n) for n in ("codes", "dialect", "exponent",
                                                                               "scale")}, field: arr},
                      tensor_scale=q.tensor_scale)
    assert not changed.equal_bits(q) and changed.to_bytes() != bytes(raw)


def test_bits_per_element():
    x = sample((4, 256))
    assert quant.quantize(x, "dialectfp4").bits_per_element == 4.375          # 4 + (4 + 8) / 32
    assert quant.quantize(x, "mxfp4").bits_per_element == 4.25                # 4 + 8 / 32
    assert quant.quantize(x, "nvfp4").bits_per_element == 4.5                 # 4 + 8 / 16
    assert quant.quantize(x, "int4_g32").bits_per_element == 4.5              # 4 + 16 / 32
    assert quant.quantize(x, "int4_g128").bits_per_element == 4.125           # 4 + 16 / 128
    assert quant.quantize(x, "int8").bits_per_element == 8 + 32 / 256         # one FP32 scale per row
    book = learn_formatbook(x, size=32, name="test-qtensor-learned-32", description="student-t(3) seed 0")
    quant.register_formatbook(book)
    assert quant.quantize(x, book.name).bits_per_element == 4.40625           # 4 + (5 + 8) / 32
    assert quant.quantize(x, "dialectfp4", block=16).bits_per_element == 4 + 12 / 16
