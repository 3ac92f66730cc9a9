"""Every cocotb API the testbenches use, in one place (cocotb 2.0 renamed several: Clock(units=) -> unit=,
Clock.start() no longer needs start_soon, BinaryValue -> LogicArray with to_unsigned()/to_signed(), Timer(units=)
-> unit=).  Pin: cocotb>=2,<3.  Testbench modules import only from here, never from cocotb directly."""
from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, Timer

test = cocotb.test                     # decorator for a testbench coroutine
start_soon = cocotb.start_soon


def start_clock(signal, period_ns: int = 10):
    """Drive `signal` with a free-running clock (period in ns); returns the clock object."""
    clock = Clock(signal, period_ns, unit="ns")
    clock.start()
    return clock


def rising_edge(signal):
    return RisingEdge(signal)


def falling_edge(signal):
    return FallingEdge(signal)


def read_only():
    """Trigger at the end of the current time step, after all updates (for monitors)."""
    return ReadOnly()


def settle(ns: int = 1):
    """Wait `ns` nanoseconds (lets combinational logic settle after driving inputs)."""
    return Timer(ns, unit="ns")


def write(handle, value: int):
    """Drive an integer (any sign) onto a vector, wrapped to the vector's width."""
    handle.value = int(value) & ((1 << len(handle)) - 1)


def read_uint(handle) -> int:
    v = handle.value                   # LogicArray for vectors, Logic for 1-bit signals
    return v.to_unsigned() if hasattr(v, "to_unsigned") else int(v)


def read_sint(handle) -> int:
    v = handle.value
    return v.to_signed() if hasattr(v, "to_signed") else -int(v)


def parameter(dut, name: str) -> int:
    """An HDL parameter of the design under test, read through the simulator (generics from the DUT)."""
    return int(getattr(dut, name).value)
