"""What the cross-check covers: picking calls by kind for a back end too slow to run a whole slice (Triton in its
interpreter), routing just those calls to it, the parts of a recipe a back end runs through the NumPy reference,
and the hook for synthetic verify stages (test vectors that are not a model call)."""
from __future__ import annotations

import numpy as np

from vdit.naming import is_attention_call

from .crosscheck import KINDS


def pick_by_kind(tap, budget: int) -> tuple:
    """Calls to check when only `budget` of them can run (a tapped full run: order, kinds, steps, macs).  Every
    kind present gets an equal share (earlier kinds in KINDS take the remainder; at least one each, so the budget
    grows to the number of kinds present).  A kind's share is spread evenly over the denoising steps it occurs in
    (first and last included); within a step the call with the fewest MACs is taken, a layer not yet picked
    first.  Returns the picked keys in execution order."""
    by_kind = {k: [key for key in tap.order if tap.kinds[key] == k] for k in KINDS}
    present = [k for k in KINDS if by_kind[k]]
    budget = max(budget, len(present))
    picked = []
    for i, k in enumerate(present):
        share = budget // len(present) + (i < budget % len(present))
        calls = by_kind[k]
        steps = sorted({tap.steps[c] for c in calls}, key=lambda s: -1 if s is None else s)
        targets = [steps[j % len(steps)] for j in np.round(np.linspace(0, len(steps) - 1, share)).astype(int)]
        for step in targets[:len(calls)]:
            layers = {p[0] for p in picked}
            free = [c for c in calls if c not in picked]
            in_step = [c for c in free if tap.steps[c] == step] or free
            picked.append(min(in_step, key=lambda c: (c[0] in layers, tap.macs.get(c, 0), tap.order.index(c))))
    return tuple(key for key in tap.order if key in set(picked))


def picks_summary(picks, tap) -> str:
    """e.g. "linear_seda 3 (steps 1,2)": picked calls per kind and the steps they come from."""
    out = []
    for k in KINDS:
        mine = [p for p in picks if tap.kinds[p] == k]
        if mine:
            steps = ",".join(str(s) for s in sorted({tap.steps[p] for p in mine} - {None}))
            out.append(f"{k} {len(mine)}" + (f" (steps {steps})" if steps else ""))
    return ", ".join(out)


# What a routed call borrows from its twin (the same layer quantized on the checked back end): the back end that
# quantizes the activations and runs the GEMM, and the weight as that back end quantized it.
_BORROWED = {"full": ("backend", "qweight"), "weight_only": ("backend", "weight_dq"),
             "activation_only": ("backend",)}


class Router:
    """Runs the picked calls of a model quantized on one back end on another: for a picked (layer, call) the layer
    borrows its twin's back end and quantized weight for that call only.  Every other call runs on the model's own
    back end, so a picked call sees exactly the input the reference run gave it (a bit-identical back end keeps
    the run on the reference's trajectory; a differing one is named at its first picked call).  Twins are built
    for the picked layers only (their weights quantized on `backend`) from the FP model `fp_model`."""

    def __init__(self, picks, fp_model, recipe, backend: str):
        import warnings

        from quant.context import QuantContext
        from quant.recipes import recipe as get_recipe
        from quant.torch_layers import QuantLinear
        self.picks = frozenset(picks)
        self.backend = backend
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # the recipe's book fallback is recorded in the run's notes
            r = get_recipe(recipe).resolved()
        ctx = QuantContext(r, backend)        # the twins' own statistics; never consulted for a routed call
        # attention calls borrow the back end only; they have no twin layer
        layers = {k[0] for k in self.picks if not is_attention_call(k[0])}
        self._twins = {n: QuantLinear(fp_model.get_submodule(n), n, r.action_for(n), r, backend, ctx)
                       for n in layers}
        self._saved = {}

    def enter(self, key, mod):
        if key not in self.picks:
            return
        twin = self._twins[key[0]]
        names = _BORROWED[mod.action.value]
        self._saved[key] = {n: getattr(mod, n) for n in names}
        for n in names:
            setattr(mod, n, getattr(twin, n))

    def exit(self, key, mod):
        for n, v in self._saved.pop(key, {}).items():
            setattr(mod, n, v)

    def attention_backend(self, key):
        """The back end of a picked full-path attention matmul call, None for the others."""
        return self.backend if key in self.picks else None


def runs_reference_for(recipe, backend: str) -> tuple:
    """The parts of a recipe that `backend` does not compute itself but hands to the NumPy reference (so the
    cross-check cannot tell them apart from the reference there).  Mirrors the dispatch of quant/fast.py (numba),
    kernels/backend.py (triton) and sim/accel/functional.py (accel); tests/test_verify_coverage.py spies on the
    reference to check each claim."""
    from quant.recipes import recipe as get_recipe
    from quant.registry import DialectFormat, ScaledIntFormat, get_format
    r = get_recipe(recipe).resolved()
    if backend == "reference":
        return ()
    parts = []
    specs = (("weights", r.weight), ("activations", r.activation), ("weight-only weights", r.weight_only_spec))
    seen = set()
    for operand, spec in specs:
        if spec is None or (operand == "weight-only weights" and (spec.fmt, spec.selector) in seen):
            continue   # weight-only linears share the weight spec: "weights" covers them
        seen.add((spec.fmt, spec.selector))
        f = get_format(spec.fmt)
        sel = spec.selector or getattr(f, "default_selector", None)
        if isinstance(f, ScaledIntFormat) and backend in ("numba", "accel"):
            parts.append(f"{operand} quantize ({spec.fmt}): no own {backend} quantize path")
        elif isinstance(f, DialectFormat) and sel == "exact_mse" and (
                backend == "accel" or (backend == "triton" and f.book.size > 1)):
            parts.append(f"{operand} selection (exact_mse over {spec.fmt}): offline, on the host")
    parts += _attention_parts(r, backend)
    if r.seda.enabled:
        parts.append("SeDA sub-formatbook choice (quant/seda.py): NumPy on every back end")
    return tuple(parts)


def _attention_parts(r, backend: str) -> list:
    """Full-path attention operands whose quantizer `backend` borrows from the reference: INT formats on numba
    and accel, MX FP8 on accel (numba and triton have their own MX kernels)."""
    from quant.registry import MXFloatFormat, ScaledIntFormat, get_format
    by_fmt = {}
    for name in ("q", "k", "p", "v"):
        spec = getattr(r.attention, name)
        if spec is None:
            continue
        f = get_format(spec.fmt)
        if (isinstance(f, ScaledIntFormat) and backend in ("numba", "accel")) or \
                (isinstance(f, MXFloatFormat) and backend == "accel"):
            by_fmt.setdefault(spec.fmt, []).append(name.upper())
    return [f"attention {', '.join(ops)} quantize ({fmt}): no own {backend} quantize path"
            for fmt, ops in by_fmt.items()]


# Synthetic verify stages: kind -> fn(backend, reference) -> (checked, identical, detail).  A stage checks test
# vectors that no model call produces (e.g. GEMMs whose block exponents make float32 ascending-block accumulation
# differ from a float64 sum); its counts join the back end's coverage under its kind, so a failing vector fails
# `sim verify`.  Register with `register_synthetic_stage` at import time of the module that defines the vectors.
SYNTHETIC_STAGES: dict = {}


def register_synthetic_stage(kind: str, fn):
    if kind in KINDS:
        raise ValueError(f"synthetic stage kind {kind!r} would mix with model call kinds {KINDS}")
    SYNTHETIC_STAGES[kind] = fn


def run_synthetic_stages(backend: str, reference: str) -> tuple:
    """({kind: (checked, identical)}, notes) of every registered stage on one back end."""
    counts, notes = {}, []
    for kind, fn in SYNTHETIC_STAGES.items():
        checked, identical, detail = fn(backend, reference)
        counts[kind] = (int(checked), int(identical))
        if detail:
            notes.append(f"{kind}: {detail}")
    return counts, tuple(notes)
