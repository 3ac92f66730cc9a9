"""Testbench for the edge decoders (decoder_dialect, decoder_dialect_compact, decode_e2m1): every (dialect id,
code) pair the inputs can hold, expected values from quant's own element decoder (`QTensor.element_ints` of a
one-row tensor holding all 16 codes under every dialect), compared as raw integers."""
from __future__ import annotations

import numpy as np

from quant.qtensor import QTensor, pack_nibbles

from .. import cocotb_compat as cc
from ..rom import book_for_size, ensure_registered
from . import common

CODES = 16


def dialect_golden(book) -> np.ndarray:
    """(D, 16) element integers: dialect d's block holds codes 0..15 twice (blocks are 32 wide)."""
    d = book.size
    codes = np.tile(np.arange(CODES), 2 * d).reshape(1, -1)
    qt = QTensor(ensure_registered(book), (1, 32 * d), 32, pack_nibbles(codes), np.arange(d, dtype=np.uint8)[None],
                 exponent=np.zeros((1, d), np.int8))
    return qt.element_ints().reshape(d, 32)[:, :CODES]


def e2m1_golden() -> np.ndarray:
    """(1, 16) element integers of NVFP4's E2M1 elements (half-units), codes 0..15 in one block of 16."""
    qt = QTensor("nvfp4", (1, CODES), CODES, pack_nibbles(np.arange(CODES)[None]), np.zeros((1, 1), np.uint8),
                 scale=np.ones((1, 1), np.float32))
    return qt.element_ints()


@cc.test()
async def decoder_exhaustive(dut):
    kind = common.config()["kind"]            # "rom", "compact" or "e2m1"
    if kind == "e2m1":
        want, id_bits = e2m1_golden(), 0
    else:
        book = book_for_size(cc.parameter(dut, "D") if kind == "rom" else 16)
        want = dialect_golden(book)
        id_bits = cc.parameter(dut, "ID_BITS") if kind == "rom" else 4
        if want.shape[0] != 1 << id_bits:
            raise AssertionError(f"book of {want.shape[0]} dialects does not fill the {id_bits}-bit id field")
    sb = common.Scoreboard(f"decoder {kind}")
    for d in range(want.shape[0]):
        if id_bits:
            cc.write(dut.dialect, d)
        for c in range(CODES):
            sb.expect((want[d, c],), context=f"dialect {d} code {c}")
            cc.write(dut.code, c)
            await cc.settle()
            sb.observe((cc.read_sint(dut.value),))
    common.write_result("decoder", {"kind": kind, "pairs": want.size, "matched": sb.check(),
                                    "distinct_values": int(len(np.unique(want)))})
