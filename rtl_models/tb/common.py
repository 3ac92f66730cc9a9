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


class Scoreboard:
    """In-order scoreboard: expected transactions (tuples of ints = raw bits) against observed ones."""

    def __init__(self, name: str, max_report: int = 5):
        self.name = name
        self.expected = deque()
        self.matched = 0
        self.mismatches = []
        self.max_report = max_report
        self.started = time.perf_counter()

    def expect(self, item, context=None):
        self.expected.append((tuple(int(v) for v in item), context))

    def observe(self, item):
        got = tuple(int(v) for v in item)
        if not self.expected:
            self.mismatches.append(f"unexpected output {got}")
            return
        want, context = self.expected.popleft()
        if got == want:
            self.matched += 1
        else:
            self.mismatches.append(f"expected {want}, got {got} ({context})")

    @property
    def pending(self) -> int:
        return len(self.expected)

    def check(self):
        if self.mismatches or self.expected:
            shown = "; ".join(self.mismatches[: self.max_report])
            raise AssertionError(f"{self.name}: {len(self.mismatches)} mismatches, {len(self.expected)} missing "
                                 f"outputs, {self.matched} matched. First: {shown}")
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
