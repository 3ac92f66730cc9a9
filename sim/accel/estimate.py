"""One call from shapes to the architect's answer: latency, energy by component and by op, area.

    est = estimate("opensora2-256px", "edge", "semanticdialect")
    est.latency_s, est.energy_by_component_j, est.area_mm2
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .area import area_mm2
from .counts import ActionCounts, count_actions, energy_pj
from .energy import action_energy_pj, load_energy_table
from .engine import SimResult, simulate
from .spec import ArchSpec, load_arch
from .trace import build_trace


@dataclass(frozen=True)
class Estimate:
    sim: SimResult
    counts: ActionCounts
    energy_per_op_pj: pd.DataFrame      # op x component
    area_mm2: dict

    @property
    def latency_s(self) -> float:
        return self.sim.latency_s

    @property
    def energy_by_component_j(self) -> dict:
        e = self.energy_per_op_pj.drop(columns="op").sum()
        return {k: float(v) * 1e-12 for k, v in e.items()}

    @property
    def energy_j(self) -> float:
        return sum(self.energy_by_component_j.values())

    def attention_shares(self) -> tuple:
        """(share of latency, share of energy) spent in attention (the score and output matmuls, softmax, column
        sums and their online quantizers: sim/accel/trace.py ATTENTION_OPS)."""
        att = self.sim.trace.attention_mask()
        po = self.sim.per_op
        cyc = (po.cycles * po.repeat).to_numpy()
        e = self.energy_per_op_pj.drop(columns="op").sum(axis=1).to_numpy()
        return float(cyc[att].sum() / max(cyc.sum(), 1e-30)), float(e[att].sum() / max(e.sum(), 1e-30))

    def summary(self) -> dict:
        sim, po = self.sim, self.sim.per_op
        macs = self.sim.total("macs")
        peak = sum(dict(self.sim.arch.peak_macs_per_cycle).values()) / len(self.sim.arch.peak_macs_per_cycle)
        by_kind = {k: float((d.cycles * d.repeat).sum() / (sim.arch.clock_mhz * 1e6)) for k, d in po.groupby("kind")}
        bott = po.assign(w=po.cycles * po.repeat).groupby("bottleneck").w.sum()
        att_latency, att_energy = self.attention_shares()
        return {
            "workload": sim.trace.model.name, "arch": sim.arch.name, "recipe": sim.trace.recipe.name,
            "dataflow": sim.dataflow, "latency_s": self.latency_s, "latency_by_kind_s": by_kind,
            "energy_j": self.energy_j, "energy_by_component_j": self.energy_by_component_j,
            "area_mm2": self.area_mm2, "area_total_mm2": sum(self.area_mm2.values()),
            "macs": macs, "dram_bytes": sim.total("dram_read_bytes") + sim.total("dram_write_bytes"),
            "time_share_by_bottleneck": {k: float(v / bott.sum()) for k, v in bott.items()},
            "full_path": sim.trace.full_path, "attention_share_of_latency": att_latency,
            "attention_share_of_energy": att_energy,
            "ops": int(len(po)), "op_instances": int(po.repeat.sum()),
            "mean_mac_rate_of_mean_peak": macs / max(sim.total_cycles, 1) / peak,
        }


def estimate(workload="opensora2-256px", arch="edge", recipe="semanticdialect", dataflow=None,
             full_path: bool = False, **trace_knobs) -> Estimate:
    spec = arch if isinstance(arch, ArchSpec) else load_arch(arch)
    trace = build_trace(workload, recipe, full_path=full_path, **trace_knobs)
    sim = simulate(trace, spec, dataflow)
    table = load_energy_table(spec.technology.energy_table)
    counts = count_actions(sim)
    return Estimate(sim, counts, energy_pj(counts, action_energy_pj(table, spec)), area_mm2(spec, table))
