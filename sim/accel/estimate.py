"""One call from shapes to the architect's answer: latency, energy by component and by op, area.

    est = estimate("opensora2-256px", "edge", "semanticdialect")
    est.latency_s, est.energy_by_component_j, est.area_mm2

NumPy only: the per-op tables (`sim.per_op`, `counts.table`, `energy_per_op_pj`) are pandas DataFrames built on
first use, and `summary()` reduces the NumPy columns in the order pandas reduces those tables (column sums
pairwise, row sums left to right, grouped sums compensated), so its numbers are the tables' to the bit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .area import area_mm2
from .counts import COMPONENTS, ActionCounts, count_actions, energy_by_component, energy_pj
from .energy import action_energy_pj, load_energy_table
from .engine import SimResult, simulate
from .spec import ArchSpec, load_arch
from .trace import build_trace


@dataclass(frozen=True)
class Estimate:
    sim: SimResult
    counts: ActionCounts
    action_pj: dict = field(repr=False)      # pJ per action at the design's node
    area_mm2: dict

    @cached_property
    def energy_by_op_pj(self) -> dict:
        """COMPONENTS -> energy per op (pJ, NumPy array in trace order)."""
        return energy_by_component(self.counts, self.action_pj)

    @cached_property
    def energy_per_op_pj(self):
        """op x component energy (pJ) as a DataFrame (`op`, then COMPONENTS)."""
        return energy_pj(self.counts, self.action_pj)

    @property
    def latency_s(self) -> float:
        return self.sim.latency_s

    @property
    def energy_by_component_j(self) -> dict:
        return {c: float(self.energy_by_op_pj[c].sum()) * 1e-12 for c in COMPONENTS}

    @property
    def energy_j(self) -> float:
        return sum(self.energy_by_component_j.values())

    def attention_shares(self) -> tuple:
        """(share of latency, share of energy) spent in attention (the score and output matmuls, softmax, column
        sums and their online quantizers: sim/accel/trace.py ATTENTION_OPS)."""
        att = self.sim.trace.attention_mask()
        cyc = self.sim.results["cycles"] * self.sim.trace.columns["repeat"]
        e = self._energy_per_op()
        return float(cyc[att].sum() / max(cyc.sum(), 1e-30)), float(e[att].sum() / max(e.sum(), 1e-30))

    def _energy_per_op(self) -> np.ndarray:
        """Energy of each op over all components (pJ), added component by component."""
        e = self.energy_by_op_pj[COMPONENTS[0]].copy()
        for c in COMPONENTS[1:]:
            e += self.energy_by_op_pj[c]
        return e

    def summary(self) -> dict:
        sim = self.sim
        cyc = sim.results["cycles"] * sim.trace.columns["repeat"]
        macs = sim.total("macs")
        peak = sum(dict(sim.arch.peak_macs_per_cycle).values()) / len(sim.arch.peak_macs_per_cycle)
        kind = sim.trace.columns["kind"]
        by_kind = {str(k): float(cyc[kind == k].sum() / (sim.arch.clock_mhz * 1e6)) for k in sorted(set(kind.tolist()))}
        bott = _grouped_sum(sim.results["bottleneck"], cyc)
        bott_total = np.array(list(bott.values())).sum()
        att_latency, att_energy = self.attention_shares()
        return {
            "workload": sim.trace.model.name, "arch": sim.arch.name, "recipe": sim.trace.recipe.name,
            "dataflow": sim.dataflow, "latency_s": self.latency_s, "latency_by_kind_s": by_kind,
            "energy_j": self.energy_j, "energy_by_component_j": self.energy_by_component_j,
            "area_mm2": self.area_mm2, "area_total_mm2": sum(self.area_mm2.values()),
            "macs": macs, "dram_bytes": sim.total("dram_read_bytes") + sim.total("dram_write_bytes"),
            "time_share_by_bottleneck": {k: float(v / bott_total) for k, v in bott.items()},
            "full_path": sim.trace.full_path, "attention_share_of_latency": att_latency,
            "attention_share_of_energy": att_energy,
            "ops": len(sim.trace), "op_instances": int(sim.trace.columns["repeat"].sum()),
            "mean_mac_rate_of_mean_peak": macs / max(sim.total_cycles, 1) / peak,
        }


def _grouped_sum(labels: np.ndarray, values: np.ndarray) -> dict:
    """label -> sum of its values in row order, compensated (Kahan) as pandas' groupby sum adds them; labels
    sorted."""
    total, carry = {}, {}
    for lab, v in zip(labels.tolist(), values.tolist()):
        s, c = total.get(lab, 0.0), carry.get(lab, 0.0)
        y = v - c
        t = s + y
        c = (t - s) - y
        carry[lab] = 0.0 if c != c else c
        total[lab] = t
    return {k: np.float64(total[k]) for k in sorted(total)}


def reference_summary(est: Estimate) -> dict:
    """`Estimate.summary` computed from the pandas tables, as every estimate was before the NumPy path (tests and
    bench/bench_sweep.py compare the two bit for bit)."""
    sim, po, e_tab = est.sim, est.sim.per_op, est.energy_per_op_pj
    total = lambda c: float((po[c] * po.repeat).sum())
    cycles = total("cycles")
    macs = total("macs")
    peak = sum(dict(sim.arch.peak_macs_per_cycle).values()) / len(sim.arch.peak_macs_per_cycle)
    by_kind = {k: float((d.cycles * d.repeat).sum() / (sim.arch.clock_mhz * 1e6)) for k, d in po.groupby("kind")}
    bott = po.assign(w=po.cycles * po.repeat).groupby("bottleneck").w.sum()
    e_comp = {k: float(v) * 1e-12 for k, v in e_tab.drop(columns="op").sum().items()}
    att = sim.trace.attention_mask()
    cyc = (po.cycles * po.repeat).to_numpy()
    e = e_tab.drop(columns="op").sum(axis=1).to_numpy()
    latency = cycles / (sim.arch.clock_mhz * 1e6)
    return {
        "workload": sim.trace.model.name, "arch": sim.arch.name, "recipe": sim.trace.recipe.name,
        "dataflow": sim.dataflow, "latency_s": latency, "latency_by_kind_s": by_kind,
        "energy_j": sum(e_comp.values()), "energy_by_component_j": e_comp,
        "area_mm2": est.area_mm2, "area_total_mm2": sum(est.area_mm2.values()),
        "macs": macs, "dram_bytes": total("dram_read_bytes") + total("dram_write_bytes"),
        "time_share_by_bottleneck": {k: float(v / bott.sum()) for k, v in bott.items()},
        "full_path": sim.trace.full_path,
        "attention_share_of_latency": float(cyc[att].sum() / max(cyc.sum(), 1e-30)),
        "attention_share_of_energy": float(e[att].sum() / max(e.sum(), 1e-30)),
        "ops": int(len(po)), "op_instances": int(po.repeat.sum()),
        "mean_mac_rate_of_mean_peak": macs / max(cycles, 1) / peak,
    }


def clear_caches():
    """Forget cached traces, tilings, parsed YAML and energy tables (benchmarks of the uncached path, tests)."""
    from . import energy, mapping, schema, trace
    trace._cached_trace.cache_clear()
    mapping._TILINGS.clear()
    schema._parsed_yaml.cache_clear()
    energy._load_table.cache_clear()


def estimate(workload="opensora2-256px", arch="edge", recipe="semanticdialect", dataflow=None,
             full_path: bool = False, **trace_knobs) -> Estimate:
    spec = arch if isinstance(arch, ArchSpec) else load_arch(arch)
    trace = build_trace(workload, recipe, full_path=full_path, **trace_knobs)
    sim = simulate(trace, spec, dataflow)
    table = load_energy_table(spec.technology.energy_table)
    return Estimate(sim, count_actions(sim), action_energy_pj(table, spec), area_mm2(spec, table))
