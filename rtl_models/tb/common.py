"""Pieces shared by the testbenches: a raw-bit scoreboard, result reporting back to pytest, reset, packing."""
from __future__ import annotations

import json
import os
import time
from collections import deque

import numpy as np

from .. import cocotb_compat as cc

RESULT_ENV = "RTL_RESULT_JSON"     # the runner sets it; the testbench writes its measurements there
CONFIG_ENV = "RTL_CONFIG_JSON"     # the runner passes the case's settings (book size, selector, shapes) here


def config() -> dict:
    return json.loads(os.environ.get(CONFIG_ENV, "{}"))


def write_result(name: str, data: dict):
    """Merge `data` under key `name` into the case's result JSON (read by rtl_models.runner)."""
    path = os.environ.get(RESULT_ENV)
    if not path:
        return
    old = json.load(open(path)) if os.path.exists(path) else {}
    old[name] = data
    with open(path, "w") as f:
        json.dump(old, f, indent=1, sort_keys=True)


WAVES_FILE_ENV = "RTL_WAVES_FILE"  # set by the runner when this case dumps a waveform


def hex_bits(item: tuple, widths=None) -> str:
    """Raw bit patterns of a transaction: fields in hex, two's complement in `widths` bits when given."""
    out = []
    for i, v in enumerate(item):
        w = widths[i] if widths else None
        out.append(f"0x{v & ((1 << w) - 1):0{(w + 3) // 4}x}" if w else (f"0x{v:x}" if v >= 0 else f"-0x{-v:x}"))
    return "(" + ", ".join(out) + ")"


def float32_bits(item: tuple) -> str:
    """float32 fields as raw bits and value, e.g. (0x3f800000 = 1.0)."""
    return "(" + ", ".join(f"0x{v & 0xFFFFFFFF:08x} = {str(np.uint32(v & 0xFFFFFFFF).view(np.float32))}"
                           for v in item) + ")"


class Scoreboard:
    """In-order scoreboard: expected transactions (tuples of ints = raw bits) against observed ones.

    A mismatch reports the context, the cycle the DUT produced the output (when the monitor gives one), both bit
    patterns and their XOR, and the transaction's inputs (`inputs`: a string or a callable, only evaluated on a
    mismatch, so describing operands costs nothing on passing runs); check() names the waveform file when the case
    dumps one (WAVES=1)."""

    def __init__(self, name: str, max_report: int = 5, widths=None, render=None):
        self.name = name
        self.expected = deque()
        self.matched = 0
        self.mismatches = []
        self.max_report = max_report
        self.widths = widths
        self.render = render or (lambda item: hex_bits(item, widths))
        self.started = time.perf_counter()

    def expect(self, item, context=None, inputs=None):
        self.expected.append((tuple(int(v) for v in item), context, inputs))

    def observe(self, item, cycle=None):
        got = tuple(int(v) for v in item)
        if not self.expected:
            self.mismatches.append(f"unexpected output {self.render(got)}" + (f" at cycle {cycle}" if cycle else ""))
            return
        want, context, inputs = self.expected.popleft()
        if got == want:
            self.matched += 1
        elif len(self.mismatches) < self.max_report:
            self.mismatches.append(self.describe(want, got, context, inputs, cycle))
        else:
            self.mismatches.append(context)

    def describe(self, want, got, context, inputs, cycle) -> str:
        where = f"{context}" + (f" at cycle {cycle}" if cycle is not None else "")
        xor = hex_bits(tuple(a ^ b for a, b in zip(want, got)), self.widths)
        text = f"{where}: expected {self.render(want)}, got {self.render(got)}, xor {xor}"
        if inputs is not None:
            text += f"; inputs: {inputs() if callable(inputs) else inputs}"
        return text

    @property
    def pending(self) -> int:
        return len(self.expected)

    def check(self):
        if self.mismatches or self.expected:
            shown = "\n  ".join(str(m) for m in self.mismatches[: self.max_report])
            waves = os.environ.get(WAVES_FILE_ENV) or "none (rerun with WAVES=1 to dump one)"
            raise AssertionError(f"{self.name}: {len(self.mismatches)} mismatches, {len(self.expected)} missing "
                                 f"outputs, {self.matched} matched; waveform: {waves}. First:\n  {shown}")
        return self.matched


async def reset(dut, cycles: int = 2):
    dut.rst.value = 1
    for _ in range(cycles):
        await cc.rising_edge(dut.clk)
    await cc.falling_edge(dut.clk)
    dut.rst.value = 0


def pack(values, width: int) -> int:
    """Pack unsigned fields (element i at bits [width*i + width - 1 : width*i]) into one integer."""
    out = 0
    for i, v in enumerate(np.asarray(values).reshape(-1).tolist()):
        out |= (int(v) & ((1 << width) - 1)) << (width * i)
    return out


def unpack(word: int, width: int, count: int) -> list:
    mask = (1 << width) - 1
    return [(word >> (width * i)) & mask for i in range(count)]
