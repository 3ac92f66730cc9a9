"""The defaults every `sim` command, the run pipeline, the study and the sweep evaluator share: the design, the
recipe under study, the workload, the checkpoint, the back end and where outputs go.  One place, so that
`sim estimate`, `sim compare`, `sim run` and a sweep point agree on what "the default" is.

The sim.accel library functions keep their own keyword defaults (a lower layer does not import the CLI's
choices); they match these values and tests/test_cli_errors.py checks that they do.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ARCH = "edge"                        # configs/arch/edge.yaml: the 45 nm edge design of the hardware model
RECIPE = "semanticdialect"           # the recipe this suite studies (quant.recipes)
WORKLOAD = "opensora2-256px"         # full-size Open-Sora 2.0 at 256px (sim.accel.workload), shapes only
RUN_WORKLOADS = ("tiny", WORKLOAD)   # `sim run` estimates the sampled tiny model and the full-size one
BACKEND = "numba"                    # the fastest bit-exact CPU back end: runs whole samplings
CHECK_BACKENDS = ("reference", "triton", "accel")   # cross-checked against BACKEND on a slice by `sim run`

# shipped checkpoints by name; `--checkpoint` and a run config's `model:` take a name or a .safetensors path
SHIPPED_MODELS = {"tiny": ROOT / "vdit" / "checkpoints" / "tiny.safetensors"}
MODEL = "tiny"
CHECKPOINT = str(Path("vdit") / "checkpoints" / "tiny.safetensors")   # repository-relative, as manifests show it

# every command that writes files writes under OUT_ROOT/<command>/ unless --out says otherwise; the committed
# study stays in results/study (STUDY_RESULTS), which `sim compare` and the codesign sweep read for quality
OUT_ROOT = Path("out")
STUDY_RESULTS = Path("results") / "study"


def out_dir(command: str, *parts: str) -> str:
    """Default output path of `sim <command>`: out/<command>[/parts...]."""
    return str(OUT_ROOT.joinpath(command, *parts))


def checkpoint_path(name_or_path: str) -> Path:
    """A shipped model name (`tiny`) or a path, as a Path (existence is checked by sim.preflight)."""
    return SHIPPED_MODELS.get(str(name_or_path), Path(name_or_path))
