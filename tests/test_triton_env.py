"""Where the kernels run and what happens without triton; ahead-of-time compilation of every kernel for an H100
(sm_90) without a GPU, with a scan of the generated PTX for float instructions that would break the contract."""
import os
import subprocess
import sys

import pytest

import kernels  # noqa: F401  (before triton: picks the interpreter on a machine without a GPU)

pytest.importorskip("triton", reason="triton not installed: pip install 'semdialect-suite[gpu]'")

from kernels import _env  # noqa: E402

pytestmark = pytest.mark.triton


def run_python(code: str, **env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "KERNELS_AOT_CHECK")}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_interpreter_chosen_without_gpu():
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible: the kernels compile for it")
    proc = run_python("import os, kernels._env as e; print(os.environ['TRITON_INTERPRET'], e.INTERPRET, e.DEVICE)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "True", "cpu"]
    assert _env.INTERPRET and "interpreter" in _env.describe()


def test_missing_triton_says_what_to_install():
    code = ("import sys; sys.modules['triton'] = None\n"
            "try:\n    import kernels.backend\nexcept ModuleNotFoundError as e:\n    print('MNF', e)\n"
            "import quant\n"
            "try:\n    quant.get_backend('triton')\nexcept ModuleNotFoundError as e:\n    print('MNF2', e)\n")
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert "MNF" in proc.stdout and "pip install 'semdialect-suite[gpu]'" in proc.stdout
    assert "MNF2 back end 'triton' is unavailable" in proc.stdout


def test_triton_imported_too_early_is_a_clear_error():
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible: no interpreter to choose")
    proc = run_python("import triton, kernels")
    assert proc.returncode != 0 and "import kernels (or set TRITON_INTERPRET=1" in proc.stderr


def check_compiled(results: dict, expected: int):
    from kernels.aot import BAD_PTX
    assert len(results) == expected
    failed = {k: v["error"] for k, v in results.items() if not v["ok"]}
    assert not failed, failed
    bad = {k: {p: v[p] for p in BAD_PTX if v[p]} for k, v in results.items() if any(v[p] for p in BAD_PTX)}
    assert not bad, f"PTX with fused/flushed/approximate float ops: {bad}"


# one specialization of each kernel and of each GEMM scale family (a cold compile takes ~2 s each)
CORE_PLANS = ["quantize_lut_d32_allowed", "quantize_nvfp4", "gemm_dialect_residual_bias", "gemm_nvfp4_residual",
              "gemm_int8", "decompose_lut_saturate"]


def test_core_kernels_compile_for_h100_without_forbidden_float_ops():
    from kernels.aot import compile_in_subprocess
    check_compiled(compile_in_subprocess(arch=90, names=CORE_PLANS), len(CORE_PLANS))


@pytest.mark.slow
def test_every_kernel_compiles_for_h100_without_forbidden_float_ops():
    from kernels.aot import compile_in_subprocess
    check_compiled(compile_in_subprocess(arch=90), 18)
