"""Share of blocks whose exponent a tensor-referenced window clamps (quant/exponents.py: exponent_span="tensor",
exponent_offset_bits b): inputs of the FULL linears of the tiny VDiT sampled in FP on CALIBRATION prompts, blocks
of 16, with and without outlier injection.  A clamped block is quantized with a larger exponent than its own.

    python3 -m bench.bitfair_clamp [--prompts 2] [--steps 3] [--bits 2,3,4]
"""
from __future__ import annotations

import argparse


def clamped_share(mode: str, prompts: int, steps: int, bits: tuple, block: int = 16) -> dict:
    """{b: clamped non-zero blocks / non-zero blocks} over every call of every FULL linear (nvfp4's policy)."""
    import vdit
    from quant.blocks import ZERO_BLOCK_EXP, as_blocks, block_exponent
    from quant.calibrate import quantized_linears
    from quant.exponents import exponent_sharing, shared_exponents
    from sim.defaults import CHECKPOINT
    from sim.study import load_model
    model = load_model(CHECKPOINT, mode)
    counts = {b: [0, 0] for b in bits}

    def hook(_module, args):
        x = args[0].detach().float().cpu().numpy()
        e = block_exponent(as_blocks(x.reshape(-1, x.shape[-1]), block))
        live = e > ZERO_BLOCK_EXP
        for b in bits:
            s = shared_exponents(e, exponent_sharing(block, "tensor", b))
            counts[b][0] += int(((s > e) & live).sum())
            counts[b][1] += int(live.sum())

    handles = [model.get_submodule(n).register_forward_pre_hook(hook) for n in quantized_linears(model, "nvfp4")]
    try:
        vdit.sample(model, vdit.CALIBRATION_PROMPTS[:prompts], seed=0, steps=steps, guidance=6.0)
    finally:
        for h in handles:
            h.remove()
    return {b: c / t for b, (c, t) in counts.items()}


def main(argv=None) -> int:
    from sim.study import set_threads
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--bits", default="2,3,4")
    args = p.parse_args(argv)
    set_threads(1)
    bits = tuple(int(b) for b in args.bits.split(","))
    for mode in ("none", "on"):
        shares = clamped_share(mode, args.prompts, args.steps, bits)
        print(f"outliers={mode}: " + ", ".join(f"b={b}: {s:.4f}" for b, s in shares.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
