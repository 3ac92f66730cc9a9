"""Action counts (what happened, not what it cost): per op, for the whole run (instances x repeat).

Actions: `mac.<mode>` per MAC, `block_scale.<pow2|pow2_wide|e4m3|float>` per scaled block partial,
`decode.<dialect|e2m1|e4m3>` per element decoded at the array edge (4-bit elements and FP8 E4M3), `lut_elem` / `lut_err_lookup` in the LUT unit (dialect selection),
`scale_quant.<kind>` per element of a scale-and-round online quantizer, `vec_op` per vector-lane operation,
`sram.<buffer>.read|write` per access of the buffer's `access_bits`, `dram.read_byte|write_byte` per byte.

Counts are NumPy columns; `ActionCounts.table` and `energy_pj` give the pandas tables (built on request).
`energy_by_component` is the same sum as `energy_pj` without pandas: actions are summed per component with the
compensated (Kahan) summation pandas' groupby sum uses, in the same order, so both give the same bits.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .engine import SimResult
from .recipes import BLOCK_SCALE_KIND, SCALE_QUANTIZERS

BUFFERS = ("inputs", "weights", "outputs")
COMPONENTS = ("pe_array", "decoders", "lut_unit", "act_quantizer", "vector_unit", "sram_inputs", "sram_weights",
              "sram_outputs", "dram")
SCALE_KINDS = ("pow2", "pow2_wide", "e4m3", "float")
DECODER_KINDS = ("dialect", "e2m1", "e4m3")


def component_of(action: str) -> str:
    head = action.split(".")[0]
    if head == "sram":
        return f"sram_{action.split('.')[1]}"
    return {"mac": "pe_array", "block_scale": "pe_array", "decode": "decoders", "lut_elem": "lut_unit",
            "lut_err_lookup": "lut_unit", "scale_quant": "act_quantizer", "vec_op": "vector_unit",
            "dram": "dram"}[head]


@dataclass(frozen=True)
class ActionCounts:
    """op: the trace's op names; columns: action -> count per op for the whole run (NumPy).  `table` is the same
    as a DataFrame indexed like the trace's ops (column `op` holds names), one column per action."""

    op: np.ndarray = field(repr=False)
    columns: dict = field(repr=False)

    @property
    def actions(self) -> list:
        return list(self.columns)

    @cached_property
    def table(self):
        import pandas as pd
        return pd.DataFrame({"op": self.op.astype(object), **self.columns})

    def totals(self):
        return self.table[self.actions].sum()


def count_actions(result: SimResult) -> ActionCounts:
    arch, col = result.arch, result.column
    rep = col("repeat").astype(float)
    mac_mode = col("mac_mode")
    cols = {}
    for mode, _ in arch.pe_array.mac_modes:
        cols[f"mac.{mode}"] = np.where(mac_mode == mode, col("macs"), 0.0) * rep
    scale_kind = np.array([BLOCK_SCALE_KIND.get(m, "") for m in mac_mode.tolist()], dtype=object)
    for kind in SCALE_KINDS:
        cols[f"block_scale.{kind}"] = np.where(scale_kind == kind, col("block_scales"), 0.0) * rep
    for kind in DECODER_KINDS:
        cols[f"decode.{kind}"] = np.where(col("decoder") == kind, col("decode_lookups"), 0.0) * rep
    for kind in SCALE_QUANTIZERS:
        cols[f"scale_quant.{kind}"] = np.where(col("quantizer") == kind, col("scale_quant_elems"), 0.0) * rep
    for src, dst in (("lut_elems", "lut_elem"), ("lut_err_lookups", "lut_err_lookup"), ("vec_ops", "vec_op")):
        cols[dst] = col(src).astype(float) * rep
    for b in BUFFERS:
        bits = getattr(arch.global_buffer, b).access_bits
        for rw in ("read", "write"):
            cols[f"sram.{b}.{rw}"] = np.ceil(col(f"sram_{b}_{rw}_bytes").astype(float) * 8 / bits) * rep
    cols["dram.read_byte"] = col("dram_read_bytes").astype(float) * rep
    cols["dram.write_byte"] = col("dram_write_bytes").astype(float) * rep
    return ActionCounts(col("op"), cols)


def _check_priced(counts: ActionCounts, action_pj: dict):
    missing = [a for a in counts.actions if a not in action_pj]
    if missing:
        raise KeyError(f"the energy table has no entry for action(s) {', '.join(missing)}")


def energy_pj(counts: ActionCounts, action_pj: dict):
    """Energy per op and component (pJ) as a DataFrame (`op`, then COMPONENTS): counts x per-action energy,
    summed by component."""
    import pandas as pd
    _check_priced(counts, action_pj)
    e = counts.table[counts.actions] * pd.Series({a: action_pj[a] for a in counts.actions})
    by_comp = e.T.groupby([component_of(a) for a in counts.actions]).sum().T
    by_comp = by_comp.reindex(columns=list(COMPONENTS), fill_value=0.0)
    by_comp.insert(0, "op", counts.table.op)
    return by_comp


def energy_by_component(counts: ActionCounts, action_pj: dict) -> dict:
    """COMPONENTS -> energy per op (pJ, NumPy): the numbers of `energy_pj`, summed the way it sums them."""
    _check_priced(counts, action_pj)
    n = len(counts.op)
    total = {c: np.zeros(n) for c in COMPONENTS}
    carry = {c: np.zeros(n) for c in COMPONENTS}
    for a, v in counts.columns.items():
        c = component_of(a)
        y = v * action_pj[a] - carry[c]
        t = total[c] + y
        carry[c] = (t - total[c]) - y
        carry[c][np.isnan(carry[c])] = 0.0       # an infinite term: keep the infinity, not NaN (as pandas does)
        total[c] = t
    return total
