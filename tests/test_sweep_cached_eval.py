"""The cached NumPy estimate path against the per-point path it replaced, bit for bit.

- every metric of edge-dse points evaluated together (traces and tilings shared through the caches, summary in
  NumPy) equals the per-point evaluation (caches cleared, the point traced and tiled alone, summary reduced from the
  pandas tables): a small grid always, a few hundred points of the full grid under `-m slow`;
- `Estimate.summary()` equals `reference_summary()` on other designs, recipes, dataflows and the full path;
- the pruned tiling search (fitting, distinct candidates) picks what the search over every candidate picks;
- the estimate command imports neither pandas nor torch nor matplotlib.
"""
import itertools
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.accel.estimate import estimate, reference_summary
from sim.accel.mapping import GemmProblems, TILING_CYCLE_SLACK, candidate_tiles, choose_tiling, gemm_cost
from sim.accel.spec import load_arch
from sim.sweep import load_sweep
from sim.sweep.accel_eval import evaluate_per_point
from sim.sweep.evaluators import evaluate_chunk

ROOT = Path(__file__).resolve().parents[1]
EDGE_DSE = ROOT / "configs/sweeps/edge-dse.yaml"


def _same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert repr(a[k]) == repr(b[k]), (k, a[k], b[k])       # repr: float bits, and dict keys in order


def _compare_points(cfgs):
    items = [(str(i), c) for i, c in enumerate(cfgs)]
    together = evaluate_chunk("accel", items)                   # one task: caches shared across its points
    for (pid, cfg, metrics, _, err) in together:
        assert err is None, err
        _same(metrics, evaluate_per_point(cfg))


def test_small_edge_dse_grid_matches_per_point_evaluation():
    base = load_sweep(EDGE_DSE).points()[0]
    cfgs = []
    for rows, cols, wbuf, banks, recipe in itertools.product([8, 24], [16, 64], [131072], [2, 32],
                                                             ["semanticdialect", "mxfp4", "nvfp4"]):
        cfg = dict(base, recipe=recipe)
        cfg["arch_overrides"] = {"pe_array": {"rows": rows, "cols": cols}, "lut_unit": {"banks": banks},
                                 "global_buffer": {"weights": {"size_bytes": wbuf}}}
        cfgs.append(cfg)
    _compare_points(cfgs)


@pytest.mark.slow
def test_edge_dse_sample_matches_per_point_evaluation():
    pts = load_sweep(EDGE_DSE).points()
    _compare_points(random.Random(0).sample(pts, 300))


@pytest.mark.parametrize("workload,arch,recipe,dataflow,full_path", [
    ("tiny", "edge", "semanticdialect", None, False),
    ("tiny", "edge", "semanticdialect", "ws", True),
    ("opensora2-256px", "edge-7nm", "mxfp4", None, True),
    ("opensora2-256px", "npu-7nm", "w8a8", None, False),
    ("tiny", "edge", "fp", None, False),
])
def test_summary_equals_pandas_reduction(workload, arch, recipe, dataflow, full_path):
    est = estimate(workload, arch, recipe, dataflow, full_path=full_path)
    _same(est.summary(), reference_summary(est))
    for c in est.energy_by_op_pj:      # the compensated NumPy sums are pandas' groupby sums
        assert np.array_equal(est.energy_by_op_pj[c], est.energy_per_op_pj[c].to_numpy())


def _choose_over_all_candidates(p, arch, dataflow):
    """The search over every candidate (no pruning), as choose_tiling did before."""
    mt, nt, kt, order, fits = candidate_tiles(p, arch)
    cost = gemm_cost(p, arch, dataflow, mt, nt, kt, order)
    cyc = np.where(fits, cost["cycles"], np.inf)
    near = cyc <= (1 + TILING_CYCLE_SLACK) * cyc.min(axis=1, keepdims=True)
    best = np.argmin(np.where(near, cost["dram_read_bytes"] + cost["dram_write_bytes"], np.inf), axis=1)
    pick = lambda a: np.take_along_axis(np.broadcast_to(a, mt.shape), best[:, None], axis=1)[:, 0]
    return {**{k: pick(v) for k, v in cost.items()}, "mt": pick(mt), "nt": pick(nt), "kt": pick(kt),
            "order": pick(order)}


@pytest.mark.parametrize("rows,cols,dataflow", [(8, 64, "os"), (24, 16, "ws"), (64, 8, "os")])
def test_pruned_tiling_search_picks_the_same_tiling(rows, cols, dataflow):
    arch = load_arch("edge", {"pe_array": {"rows": rows, "cols": cols}})
    rng = np.random.default_rng(rows * cols)
    n = 24        # small and huge dimensions, so that tile sizes saturate and K exceeds the largest K chunk
    dims = lambda hi: np.concatenate([[1, 7, 32, 33], rng.integers(1, hi, n - 4)]).astype(np.int64)
    p = GemmProblems(m=dims(20000), k=dims(300000), n=dims(9000), x_bytes=rng.choice([0.53125, 2.0], n),
                     w_bytes=rng.choice([0.5625, 2.0], n), y_bytes=np.full(n, 2.0),
                     macs_per_cycle=rng.choice([1, 8], n),
                     x_onchip=rng.random(n) < 0.2, w_onchip=rng.random(n) < 0.2, y_onchip=rng.random(n) < 0.2)
    got, want = choose_tiling(p, arch, dataflow), _choose_over_all_candidates(p, arch, dataflow)
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]), k


def test_estimate_command_imports_no_pandas_torch_or_matplotlib():
    code = ("import sys; from sim.cli import main; rc = main(['estimate', '--workload', 'tiny']); "
            "heavy = [m for m in ('pandas', 'torch', 'matplotlib') if m in sys.modules]; "
            "sys.exit(f'imported {heavy}' if heavy or rc else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
