"""Action counts (what happened, not what it cost): per op, for the whole run (instances x repeat).

Actions: `mac.<mode>` per MAC, `block_scale.<pow2|e4m3|float>` per scaled block partial, `decode.<dialect|e2m1>`
per 4-bit element decoded at the array edge, `lut_elem` / `lut_err_lookup` in the LUT unit (dialect selection),
`scale_quant.<kind>` per element of a scale-and-round online quantizer, `vec_op` per vector-lane operation,
`sram.<buffer>.read|write` per access of the buffer's `access_bits`, `dram.read_byte|write_byte` per byte.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .engine import SimResult
from .recipes import BLOCK_SCALE_KIND, SCALE_QUANTIZERS

BUFFERS = ("inputs", "weights", "outputs")
COMPONENTS = ("pe_array", "decoders", "lut_unit", "act_quantizer", "vector_unit", "sram_inputs", "sram_weights",
              "sram_outputs", "dram")
SCALE_KINDS = ("pow2", "e4m3", "float")
DECODER_KINDS = ("dialect", "e2m1")


def component_of(action: str) -> str:
    head = action.split(".")[0]
    if head == "sram":
        return f"sram_{action.split('.')[1]}"
    return {"mac": "pe_array", "block_scale": "pe_array", "decode": "decoders", "lut_elem": "lut_unit",
            "lut_err_lookup": "lut_unit", "scale_quant": "act_quantizer", "vec_op": "vector_unit",
            "dram": "dram"}[head]


@dataclass(frozen=True)
class ActionCounts:
    """table: DataFrame indexed like the trace's ops (column `op` holds names), one column per action."""

    table: pd.DataFrame

    @property
    def actions(self) -> list:
        return [c for c in self.table.columns if c != "op"]

    def totals(self) -> pd.Series:
        return self.table[self.actions].sum()


def count_actions(result: SimResult) -> ActionCounts:
    po, arch = result.per_op, result.arch
    rep = po.repeat.to_numpy(float)
    cols = {"op": po.op.to_numpy()}
    for mode, _ in arch.pe_array.mac_modes:
        cols[f"mac.{mode}"] = np.where(po.mac_mode == mode, po.macs, 0.0) * rep
    scale_kind = po.mac_mode.map(BLOCK_SCALE_KIND).fillna("").to_numpy()
    for kind in SCALE_KINDS:
        cols[f"block_scale.{kind}"] = np.where(scale_kind == kind, po.block_scales, 0.0) * rep
    for kind in DECODER_KINDS:
        cols[f"decode.{kind}"] = np.where(po.decoder == kind, po.decode_lookups, 0.0) * rep
    for kind in SCALE_QUANTIZERS:
        cols[f"scale_quant.{kind}"] = np.where(po.quantizer == kind, po.scale_quant_elems, 0.0) * rep
    for src, dst in (("lut_elems", "lut_elem"), ("lut_err_lookups", "lut_err_lookup"), ("vec_ops", "vec_op")):
        cols[dst] = po[src].to_numpy(float) * rep
    for b in BUFFERS:
        bits = getattr(arch.global_buffer, b).access_bits
        for rw in ("read", "write"):
            cols[f"sram.{b}.{rw}"] = np.ceil(po[f"sram_{b}_{rw}_bytes"].to_numpy(float) * 8 / bits) * rep
    cols["dram.read_byte"] = po.dram_read_bytes.to_numpy(float) * rep
    cols["dram.write_byte"] = po.dram_write_bytes.to_numpy(float) * rep
    return ActionCounts(pd.DataFrame(cols, index=po.index))


def energy_pj(counts: ActionCounts, action_pj: dict) -> pd.DataFrame:
    """Energy per op and component (pJ): counts x per-action energy, summed by component."""
    missing = [a for a in counts.actions if a not in action_pj]
    if missing:
        raise KeyError(f"the energy table has no entry for action(s) {', '.join(missing)}")
    e = counts.table[counts.actions] * pd.Series({a: action_pj[a] for a in counts.actions})
    by_comp = e.T.groupby([component_of(a) for a in counts.actions]).sum().T
    by_comp = by_comp.reindex(columns=list(COMPONENTS), fill_value=0.0)
    by_comp.insert(0, "op", counts.table.op)
    return by_comp
