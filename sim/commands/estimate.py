"""`sim estimate`: latency, energy (by component) and area of a whole sampling run from shapes alone."""
from __future__ import annotations

import json
import time

from .. import defaults, preflight


def register(sub):
    p = sub.add_parser("estimate", help="latency, energy and area of a whole sampling run on a design")
    p.add_argument("--workload", default=defaults.WORKLOAD, help="opensora2-256px, opensora2-768px or tiny")
    p.add_argument("--arch", default=defaults.ARCH,
                   help="a shipped design (configs/arch/*.yaml, e.g. edge, edge-7nm, npu-7nm) or a YAML path")
    p.add_argument("--recipe", default=defaults.RECIPE, help="quantization recipe (see sim.accel.recipes)")
    p.add_argument("--dataflow", choices=("os", "ws", "is"), default=None,      # sim/accel/spec.py DATAFLOWS
                   help="force one dataflow on every GEMM (default: the design's; chosen per GEMM where it lists "
                        "several in pe_array.dataflows)")
    p.add_argument("--full-path", action="store_true", help="quantize the attention matmuls too")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
    from sim.accel.estimate import estimate
    t0 = time.perf_counter()
    preflight.workloads([args.workload])
    preflight.recipes([args.recipe])
    arch = preflight.arch(args.arch)
    est = estimate(args.workload, arch, args.recipe, args.dataflow, full_path=args.full_path)
    rep = est.summary()
    rep["simulated_in_s"] = time.perf_counter() - t0
    if args.json:
        print(json.dumps(rep, indent=2))
        return 0
    print(f"{rep['workload']} on {rep['arch']} ({rep['dataflow']}), recipe {rep['recipe']}: "
          f"{rep['ops']} distinct ops, {rep['op_instances']} op instances, simulated in {rep['simulated_in_s']:.2f} s")
    print(f"  latency {rep['latency_s']:.4g} s   energy {rep['energy_j']:.4g} J   area {rep['area_total_mm2']:.3f} mm^2")
    print(f"  attention ({'quantized' if rep['full_path'] else 'FP16'}): {rep['attention_share_of_latency']:.1%} of "
          f"the latency, {rep['attention_share_of_energy']:.1%} of the energy")
    for title, key, unit in (("latency by op kind", "latency_by_kind_s", "s"),
                             ("energy by component", "energy_by_component_j", "J"),
                             ("area by component", "area_mm2", "mm^2"),
                             ("time share by bottleneck", "time_share_by_bottleneck", "")):
        print(f"  {title}:")
        for k, v in rep[key].items():
            print(f"    {k:<20}{v:>14.4g} {unit}")
    return 0
