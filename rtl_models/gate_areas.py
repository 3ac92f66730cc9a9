"""Per-gate areas used to turn Yosys cell counts into silicon area.

Source: NanGate FreePDK45 Open Cell Library (NangateOpenCellLibrary, typical corner), X1 drive strength.  Cell
area = width x 1.4 um row height, widths in multiples of the 0.19 um placement site:
INV_X1 2 sites, NAND2_X1/NOR2_X1 3, AND2_X1/OR2_X1 4, XOR2_X1/XNOR2_X1 6, MUX2_X1 7, DFF_X1 17.
These are the commonly quoted library areas (um^2); they are taken as documented here, not re-measured.
Yosys's `abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX` maps combinational logic to exactly these gate kinds (+ NOT/BUF);
flip-flops are legalized to plain positive-edge D flip-flops first (enables and resets become gates).
Areas are pre-placement cell areas (no wiring, no utilization factor): compare them relative to each other.
"""
from __future__ import annotations

from dataclasses import dataclass

SITE_UM = 0.19
ROW_HEIGHT_UM = 1.4


@dataclass(frozen=True)
class GateArea:
    yosys_cell: str
    library_cell: str
    sites: int

    @property
    def area_um2(self) -> float:
        return round(self.sites * SITE_UM * ROW_HEIGHT_UM, 4)


GATES = {g.yosys_cell: g for g in (
    GateArea("$_NOT_", "INV_X1", 2),
    GateArea("$_BUF_", "BUF_X1", 3),
    GateArea("$_NAND_", "NAND2_X1", 3),
    GateArea("$_NOR_", "NOR2_X1", 3),
    GateArea("$_AND_", "AND2_X1", 4),
    GateArea("$_OR_", "OR2_X1", 4),
    GateArea("$_XOR_", "XOR2_X1", 6),
    GateArea("$_XNOR_", "XNOR2_X1", 6),
    GateArea("$_MUX_", "MUX2_X1", 7),
    GateArea("$_DFF_P_", "DFF_X1", 17),
)}
NAND2_UM2 = GATES["$_NAND_"].area_um2


def cell_area_um2(cell: str) -> float:
    try:
        return GATES[cell].area_um2
    except KeyError:
        raise KeyError(f"no documented area for Yosys cell {cell!r}; known: {sorted(GATES)}") from None


def area_um2(cell_counts: dict) -> float:
    """Total cell area of a {yosys cell type: count} map."""
    return round(sum(cell_area_um2(c) * n for c, n in cell_counts.items()), 3)
