"""Learn formatbooks for block 16 on CALIBRATION prompts (the bit-fair dialect variants, docs/formats.md#
shared-exponents): inputs of the FULL linears of the tiny VDiT sampled in FP, cut into blocks of 16, then
quant.learn.learn_formatbook from scratch (no base book) or extending a base book (its dialects keep their ids).  Prints freeze_source of each book (the text pasted
into quant/learned_books.py) after the calibration settings; never touches the evaluation prompts.

    NUMBA_NUM_THREADS=1 python3 -m bench.bitfair_books [--sizes 8,16] [--out FILE]                 # dialect{8,16}-b16
    NUMBA_NUM_THREADS=1 python3 -m bench.bitfair_books --base dialectfp4 --sizes 32,64 [--out FILE]  # dialectfp4-{32,64}-b16
"""
from __future__ import annotations

import argparse
import time


def _settings() -> dict:
    """The settings frozen beside the books (quant/learned_books.py), so a rerun reproduces them."""
    from quant.learned_books import DIALECT_B16_CALIBRATION
    return {k: v for k, v in DIALECT_B16_CALIBRATION.items() if k != "checkpoint_sha256"}


def collect(settings: dict, checkpoint: str):
    import vdit
    from quant.calibrate import collect_blocks
    model, _ = vdit.load_checkpoint(checkpoint)
    prompts = vdit.CALIBRATION_PROMPTS[:settings["prompts"]]

    def drive(m):
        for s in settings["seeds"]:
            vdit.sample(m, prompts, seed=s, steps=settings["steps"], guidance=settings["guidance"])

    return collect_blocks(model, settings["recipe"], drive, settings["row_stride"], block=settings["block"])


def main(argv=None) -> int:
    from quant.calibrate import learn_from_blocks
    from quant.learn import freeze_source
    from sim.defaults import CHECKPOINT
    from sim.study import file_sha256, set_threads
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="8,16")
    p.add_argument("--base", default="none", help="base book whose dialects come first (default: none)")
    p.add_argument("--out", default=None, help="write the source here instead of printing it")
    args = p.parse_args(argv)
    set_threads(1)
    settings = _settings()
    t0 = time.perf_counter()
    blocks = collect(settings, CHECKPOINT)
    sha = file_sha256(CHECKPOINT)
    desc = (f"VDiT checkpoint {CHECKPOINT} sha256 {sha[:16]}, FP sampling of the first {settings['prompts']} "
            f"calibration prompts, seeds {settings['seeds']}, {settings['steps']} steps, guidance "
            f"{settings['guidance']}")
    out = [f"# bench/bitfair_books.py settings: {settings!r}, checkpoint sha256 {sha}\n"]
    base = None if args.base == "none" else args.base
    for size in (int(s) for s in args.sizes.split(",")):
        name = f"dialect{size}-b16" if base is None else f"{base.split('-')[0]}-{size}-b16"
        book = learn_from_blocks(blocks, name, size, base, description=desc)
        out.append(freeze_source(book))
    text = "\n".join(out)
    print(f"# {blocks.n_blocks} blocks of {settings['block']}, {time.perf_counter() - t0:.0f} s")
    if args.out:
        from reports.io import atomic_write_text
        atomic_write_text(args.out, text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
