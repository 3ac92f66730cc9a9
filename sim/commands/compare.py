"""`sim compare`: format-specialized designs side by side at equal area or equal peak throughput, with quality.

    sim compare --workload opensora2-256px --arch edge --recipes semanticdialect,mxfp4,nvfp4,int4_g32,w8a8 \
                --normalize area [--json] [--out DIR]
"""
from __future__ import annotations

import json

from .. import defaults, preflight
from ..cli import CliError

DEFAULT_RECIPES = f"{defaults.RECIPE},mxfp4,nvfp4,int4_g32,w8a8"


def register(sub):
    p = sub.add_parser("compare", help="format-specialized designs at equal area or throughput, with quality")
    p.add_argument("--workload", default=defaults.WORKLOAD, help="opensora2-256px, opensora2-768px or tiny")
    p.add_argument("--arch", "--base", dest="base", default=defaults.ARCH,
                   help="base design name or YAML path (its area / peak is the target; --base is the old name)")
    p.add_argument("--recipes", default=DEFAULT_RECIPES, help="comma-separated recipe names (quant's catalog)")
    p.add_argument("--normalize", choices=("area", "throughput"), default="area",
                   help="scale each specialized design's PE array to the base's area or peak 4-bit MACs/cycle")
    p.add_argument("--area-mm2", type=float, default=None, help="iso-area target instead of the base's area")
    p.add_argument("--reference", default=None, help="recipe the verdicts compare against (default nvfp4)")
    p.add_argument("--study", default=None,
                   help="`sim study` folder or summary.csv for quality (default: the committed results/study)")
    p.add_argument("--no-quality", action="store_true", help="leave the quality columns empty")
    p.add_argument("--quality-mode", default="none", help="outlier mode of the study rows: none or on")
    p.add_argument("--full-path", action="store_true", help="quantize the attention matmuls too")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", default=None, help="write codesign*.csv, codesign_meta.json and codesign.pdf here")
    p.set_defaults(func=run)


def run(args) -> int:
    from sim.accel.compare import STUDY_DIR, compare
    recipes = list(preflight.recipes(preflight.csv_list(args.recipes, "--recipes"), "--recipes"))
    if args.reference is not None:
        preflight.recipes([args.reference], "--reference")
    preflight.workloads([args.workload])
    preflight.arch(args.base, "--arch")
    if args.area_mm2 is not None and not args.area_mm2 > 0:
        raise CliError(f"--area-mm2: must be a positive number of mm^2, got {args.area_mm2}")
    out = None if args.out is None else preflight.out_dir(args.out)
    study = None if args.no_quality else (args.study or STUDY_DIR)
    from contextlib import nullcontext

    from reports.io import check_replaceable, run_lock
    with run_lock(out) if out is not None else nullcontext():    # the folder is ours, and replaceable, first
        if out is not None:
            check_replaceable(out)
        cmp = compare(args.workload, args.base, recipes, args.normalize, args.area_mm2, args.reference, study,
                      args.quality_mode, args.full_path)
        if out is not None:
            from sim.pipeline.codesign import write_comparison
            paths = write_comparison(cmp, out)
            print(f"wrote {', '.join(str(p) for p in paths)}", flush=True)
    if args.json:
        print(json.dumps(as_json(cmp), indent=2, default=float))
    else:
        print_table(cmp)
    return 0


def as_json(cmp) -> dict:
    rows = []
    for r in cmp.rows.to_dict("records"):
        row = {k: v for k, v in r.items() if "." not in k}
        row["area_by_component_mm2"] = {k[5:-4]: v for k, v in r.items() if k.startswith("area.")}
        row["energy_by_component_j"] = {k[7:-2]: v for k, v in r.items() if k.startswith("energy.")}
        rows.append(row)
    return {"normalize": cmp.meta["normalize"], "meta": cmp.meta, "rows": rows}


def print_table(cmp):
    m = cmp.meta
    target = f"{m['target']:.3f} mm^2" if m["normalize"] == "area" else f"{m['target']} MACs/cycle"
    print(f"{m['workload']}: designs specialized from {m['base_design']} at equal {m['normalize']} ({target}); "
          f"quality: {m['quality_source'] or 'none'} (outliers {m['quality_mode']})")
    head = f"  {'recipe':<26}{'PEs':>8}{'area mm2':>10}{'latency s':>12}{'energy J':>11}{'pJ/MAC':>8}{'W':>7}" \
           f"{'attn lat':>9}{'PSNR dB':>9}"
    print(head)
    for r in cmp.rows.itertuples():
        print(f"  {r.recipe:<26}{f'{r.pe_rows}x{r.pe_cols}':>8}{r.area_mm2:>10.3f}{r.latency_s:>12.5g}"
              f"{r.energy_j:>11.5g}{r.energy_per_mac_pj:>8.3f}{r.avg_power_w:>7.2f}"
              f"{r.attention_share_of_latency:>9.1%}{r.psnr_db:>9.2f}")
    for line in cmp.rows.verdict:
        print(f"  {line}")
