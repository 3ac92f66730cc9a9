"""Validate the accelerator timing model against SCALE-Sim v3 on a plain INT8 systolic array.

    python bench/scalesim_compare.py [--venv DIR] [--shapes M,K,N;M,K,N...]

SCALE-Sim (`scalesim` on PyPI) breaks on numpy 2, so it runs from its own venv (created on first use under
~/.cache/semdialect/scalesim-venv with numpy<2).  For each dataflow (os, ws, is) all shapes run as one SCALE-Sim
topology; the model's compute cycles for configs/arch/int8-systolic.yaml are compared with COMPUTE_REPORT.csv's
"Total Cycles" (SCALE-Sim's CALC bandwidth mode sizes DRAM bandwidth so that there are no stalls, so the compute
pipeline alone is compared).  Prints per-shape errors, the worst error and the speed ratio (same run).
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_VENV = Path.home() / ".cache" / "semdialect" / "scalesim-venv"
SHAPES = [(16, 16, 16), (64, 64, 64), (40, 50, 24), (100, 70, 37), (33, 100, 17), (200, 96, 130), (128, 256, 64),
          (256, 256, 256), (1, 300, 50), (300, 20, 250)]
TOLERANCE = 0.05

CFG = """[general]
run_name = cmp

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {kb}
FilterSramSzkB: {kb}
OfmapSramSzkB: {kb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 1000
Dataflow: {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def ensure_venv(venv: Path) -> Path:
    py = venv / "bin" / "python"
    probe = [str(py), "-c", "import scalesim, numpy; assert int(numpy.__version__.split('.')[0]) < 2"]
    if py.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return py
    print(f"creating SCALE-Sim venv in {venv} (numpy<2, scalesim) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "numpy<2", "scalesim"], check=True)
    return py


def run_scalesim(py: Path, arch, dataflow: str, shapes) -> tuple:
    """SCALE-Sim 'Total Cycles' per shape and the wall time of the run."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        kb = max(getattr(arch.global_buffer, b).size_bytes for b in ("inputs", "weights", "outputs")) // 1024
        (tmp / "scale.cfg").write_text(CFG.format(rows=arch.pe_array.rows, cols=arch.pe_array.cols, kb=kb,
                                                  dataflow=dataflow))
        # SCALE-Sim GEMM topology rows: name, M, N, K (trailing comma)
        (tmp / "topo.csv").write_text("Layer, M, N, K,\n" + "".join(f"g{i}, {m}, {n}, {k},\n"
                                                                      for i, (m, k, n) in enumerate(shapes)))
        (tmp / "layout.csv").write_text("Layer\n")
        t0 = time.perf_counter()
        proc = subprocess.run([str(py), "-m", "scalesim.scale", "-c", "scale.cfg", "-t", "topo.csv", "-l",
                               "layout.csv", "-i", "gemm", "-p", "out", "-s", "N"], cwd=tmp, capture_output=True,
                              text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        wall = time.perf_counter() - t0
        if proc.returncode:
            raise RuntimeError(f"SCALE-Sim failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        with open(tmp / "out" / "cmp" / "COMPUTE_REPORT.csv") as f:
            rows = list(csv.reader(f))
        header = [h.strip() for h in rows[0]]
        col = header.index("Total Cycles")
        return [int(r[col]) for r in rows[1:] if r and r[0].strip()], wall


def model_cycles(arch, dataflow: str, shapes) -> tuple:
    from sim.accel.engine import simulate
    from sim.accel.trace import gemm_trace
    t0 = time.perf_counter()
    out = []
    for m, k, n in shapes:
        r = simulate(gemm_trace(m, k, n, "int8", quantize_input=False), arch, dataflow)
        out.append(float(r.per_op.compute_cycles.iloc[0]))
    return out, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    ap.add_argument("--shapes", help="M,K,N;M,K,N;... (default: a built-in set incl. non-multiples of 16)")
    args = ap.parse_args(argv)
    from sim.accel.spec import load_arch
    arch = load_arch("int8-systolic")
    shapes = [tuple(map(int, s.split(","))) for s in args.shapes.split(";")] if args.shapes else SHAPES
    py = ensure_venv(args.venv)
    worst = 0.0
    print(f"{'dataflow':<9}{'M':>6}{'K':>6}{'N':>6}{'SCALE-Sim':>12}{'model':>12}{'error %':>10}")
    for df in ("os", "ws", "is"):
        ref, t_ref = run_scalesim(py, arch, df, shapes)
        ours, t_ours = model_cycles(arch, df, shapes)
        for (m, k, n), a, b in zip(shapes, ref, ours):
            err = (b - a) / a
            worst = max(worst, abs(err))
            print(f"{df:<9}{m:>6}{k:>6}{n:>6}{a:>12}{b:>12.0f}{100 * err:>10.3f}")
        print(f"{df}: SCALE-Sim {t_ref:.2f} s, model {t_ours:.3f} s for {len(shapes)} GEMMs: "
              f"model is {t_ref / t_ours:.0f}x faster")
    print(f"worst |error| {100 * worst:.3f} % (target < {100 * TOLERANCE:.0f} %): {'PASS' if worst < TOLERANCE else 'FAIL'}")
    return 0 if worst < TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
