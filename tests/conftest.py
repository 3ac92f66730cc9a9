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
