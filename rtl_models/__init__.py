"""RTL models of the accelerator's key blocks (Verilog in hdl/), their cocotb testbenches (tb/), the runner that
builds and simulates them with Icarus Verilog, Yosys synthesis for area, and the PE array's cycle formula.

Golden values always come from `quant/` (the NumPy reference); see README.md.
"""
