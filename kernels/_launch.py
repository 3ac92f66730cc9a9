"""A kernel launch as data (kernel, grid, runtime arguments, compile-time constants), so the same launch can run
or be compiled ahead of time for a GPU target (kernels/aot.py) without a GPU."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ._env import LAUNCH_OPTS

_TORCH_TO_TRITON = {torch.float32: "fp32", torch.uint8: "u8", torch.int8: "i8", torch.int32: "i32",
                    torch.int64: "i64"}


@dataclass(frozen=True)
class KernelCall:
    kernel: object          # a @triton.jit function
    grid: tuple
    args: tuple             # runtime arguments in the kernel's order (tensors, ints, floats)
    constexprs: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)   # compiler/launch options (num_warps, num_stages)

    def compile_options(self) -> dict:
        return {**self.options, **LAUNCH_OPTS}

    def run(self, **options):
        """Launch; `options` override this call's compiler options (benchmark sweeps)."""
        self.kernel[self.grid](*self.args, **self.constexprs, **{**self.compile_options(), **options})

    def signature(self) -> dict:
        """Triton type strings of every argument (what a launch with these arguments would compile)."""
        names = self.kernel.arg_names
        sig = {n: _type_of(a) for n, a in zip(names, self.args)}
        sig.update({n: "constexpr" for n in self.constexprs})
        return sig


def _type_of(a) -> str:
    if torch.is_tensor(a):
        return "*" + _TORCH_TO_TRITON[a.dtype]
    if isinstance(a, bool):
        return "i1"
    if isinstance(a, int):
        return "i32" if -2 ** 31 <= a < 2 ** 31 else "i64"
    if isinstance(a, float):
        return "fp32"
    raise TypeError(f"no Triton type for kernel argument {a!r}")
