"""`sim gemm`: one GEMM through the accelerator timing/energy model (cycles, utilization, energy by component,
traffic), for architects' quick questions and for validation."""
from __future__ import annotations

import json

from .. import defaults, preflight
from ..cli import CliError

# the trace and the engine count MACs and bytes in int64: m*k*n above 2**60 would wrap (2**62 is int64's range
# with the engine's x4 byte factors) and give silently wrong cycles [ours]
MAX_MACS = 2 ** 60


def register(sub):
    p = sub.add_parser("gemm", help="one GEMM through the accelerator timing/energy model")
    p.add_argument("--arch", default=defaults.ARCH, help="design name (edge, edge-large, int8-systolic) or YAML path")
    p.add_argument("--m", type=int, required=True, help="rows of X (tokens)")
    p.add_argument("--k", type=int, required=True, help="reduction dimension")
    p.add_argument("--n", type=int, required=True, help="rows of W (output features)")
    p.add_argument("--dataflow", choices=("os", "ws", "is"), default=None,      # sim/accel/spec.py DATAFLOWS
                   help="force one dataflow on every GEMM (default: the design's; chosen per GEMM where it lists "
                        "several in pe_array.dataflows)")
    p.add_argument("--format", default="dialectfp4-32",
                   help="element format: dialectfp4-32, dialectfp4, mxfp4, nvfp4, int4_g32, int8, fp16")
    p.add_argument("--no-quantize", action="store_true", help="leave out the online input quantization")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def gemm_report(args) -> dict:
    from sim.accel.counts import count_actions, energy_pj
    from sim.accel.energy import action_energy_pj, load_energy_table
    from sim.accel.engine import simulate
    from sim.accel.area import area_mm2
    from sim.accel.spec import load_arch
    from sim.accel.trace import gemm_trace

    arch = load_arch(args.arch)
    trace = gemm_trace(args.m, args.k, args.n, args.format, quantize_input=not args.no_quantize)
    sim = simulate(trace, arch, args.dataflow)
    table = load_energy_table(arch.technology.energy_table)
    energy = energy_pj(count_actions(sim), action_energy_pj(table, arch)).drop(columns="op").sum()
    g = sim.per_op[sim.per_op.kind == "gemm"].iloc[0]
    peak = dict(arch.peak_macs_per_cycle)[g.mac_mode]
    return {
        "arch": arch.name, "dataflow": sim.dataflow, "format": args.format, "mac_mode": g.mac_mode,
        "m": args.m, "k": args.k, "n": args.n, "cycles": sim.total_cycles,
        "gemm_cycles": float(g.cycles), "compute_cycles": float(g.compute_cycles),
        "memory_cycles": float(g.memory_cycles), "bottleneck": g.bottleneck,
        "utilization": float(g.macs / (g.cycles * peak)), "latency_s": sim.latency_s,
        "dram_read_bytes": sim.total("dram_read_bytes"), "dram_write_bytes": sim.total("dram_write_bytes"),
        "energy_pj_by_component": {k: float(v) for k, v in energy.items()},
        "energy_pj": float(energy.sum()), "area_mm2": sum(area_mm2(arch, table).values()),
    }


def _check_dims(args):
    if min(args.m, args.k, args.n) >= 1 and args.m * args.k * args.n > MAX_MACS:
        raise CliError(f"--m/--k/--n: {args.m} x {args.k} x {args.n} = {args.m * args.k * args.n:.3g} MACs; at most "
                       f"2**60 (the model counts in 64-bit integers)")


def run(args) -> int:
    _check_dims(args)
    preflight.arch(args.arch)
    rep = gemm_report(args)
    if args.json:
        print(json.dumps(rep, indent=2))
        return 0
    for key, val in rep.items():
        if isinstance(val, dict):
            print(f"{key}:")
            for k, v in val.items():
                print(f"  {k:<22}{v:>16.4g}")
        else:
            print(f"{key:<24}{val:>16.6g}" if isinstance(val, float) else f"{key:<24}{val!s:>16}")
    return 0
