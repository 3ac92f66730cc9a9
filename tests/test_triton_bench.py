"""The GPU benchmark's code paths, exercised on tiny shapes in the interpreter (timings discarded), and its
refusal to report interpreter timings."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import kernels  # noqa: F401  (before triton: picks the interpreter on a machine without a GPU)

pytest.importorskip("triton", reason="triton not installed: pip install 'semdialect-suite[gpu]'")

from kernels import _env  # noqa: E402

pytestmark = pytest.mark.triton
SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bench_triton.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_triton", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_code_paths_on_tiny_shapes():
    if not _env.INTERPRET:
        pytest.skip("GPU present: run bench/bench_triton.py itself")
    bench = load_bench()
    q = bench.quantize_rows(1, 8, 64, bw=1.0, device="cpu")
    g = bench.gemm_rows(1, [(5, 64, 7)], tiles=[(32, 32)], device="cpu")
    assert len(q) == 5 and all(r["bytes_per_s"] > 0 for r in q)
    assert len(g) == 3 and all(r["speed_vs_bf16"] > 0 for r in g)
    f = bench.footprint_rows([(96, 10)])
    # int8 dialect id + int8 exponent per 32 (dialectfp4, mxfp4); uint8 id + float32 scale per 16 (nvfp4)
    assert [round(r["stored_bits_per_element"], 3) for r in f] == [4.5, 4.5, 6.5]


def test_bench_refuses_interpreter_timings():
    if not _env.INTERPRET:
        pytest.skip("GPU present")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "timings are not measured" in proc.stdout and "tflops" not in proc.stdout.lower()
