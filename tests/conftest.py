"""Test groups by what they need: plain CPU (default), triton (interpreter on CPU), rtl (iverilog), gpu, slow.
gpu and slow are deselected by default (pyproject addopts); run them with `-m gpu` or `-m slow`."""
import os
import shutil

import pytest

# The Triton interpreter must be chosen before anything imports triton (kernels/_env.py decides it).
import kernels._env  # noqa: E402,F401

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config, items):
    if shutil.which("iverilog") is None:
        skip = pytest.mark.skip(reason="Icarus Verilog not installed (run setup.sh)")
        for item in items:
            if "rtl" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(params=["interpreter", pytest.param("gpu", marks=pytest.mark.gpu)])
def triton_kernel_mode(request):
    """Run a Triton test once per kernel mode: through the interpreter (CPU) and, with -m gpu, compiled on a GPU."""
    if request.param == "gpu" and kernels._env.INTERPRET:
        pytest.skip("no CUDA GPU visible: the kernels run in the interpreter in this process")
    if request.param == "interpreter" and not kernels._env.INTERPRET:
        pytest.skip("kernels are compiled for the GPU in this process; run with TRITON_INTERPRET=1 for this variant")
    return request.param
