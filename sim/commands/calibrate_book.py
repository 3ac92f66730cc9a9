"""`sim calibrate-book [--out PY]`: learn the dialectfp4-32 formatbook on calibration prompts and write its
settings and freeze_source (the text of quant/learned_books.py) to PY."""
from __future__ import annotations

from .. import defaults, preflight
from ..cli import CliError

DEFAULT_OUT = defaults.out_dir("calibrate-book", "learned_books.py")


def register(sub):
    p = sub.add_parser("calibrate-book", help="learn the D=32 formatbook on calibration prompts (Python source)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"Python file to write (default {DEFAULT_OUT})")
    p.add_argument("--checkpoint", default=defaults.CHECKPOINT, help="shipped model name (tiny) or .safetensors path")
    p.add_argument("--guidance", type=float, default=None, help="CFG scale (default: the checkpoint card's)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch and Numba")
    p.set_defaults(func=run)


def calibrate(checkpoint: str, guidance, threads: int, out: str) -> int:
    from quant.learn import freeze_source
    from reports.io import atomic_write_text
    from vdit.release import card_guidance
    from ..study_tune import BookCalibration, calibrate_book, settings_source
    from .study import checkpoint_arg
    checkpoint = checkpoint_arg(checkpoint)
    if threads < 1:
        raise CliError(f"--threads must be at least 1, got {threads}")
    preflight.out_file(out)
    settings = BookCalibration(guidance=card_guidance() if guidance is None else guidance)
    book, info = calibrate_book(settings, checkpoint, threads)
    src = settings_source(settings, info) + freeze_source(book)
    atomic_write_text(out, src)
    print(f"wrote {out} ({info['blocks']} blocks, learn {info['learn_seconds']:.0f} s)")
    return 0


def run(args) -> int:
    return calibrate(args.checkpoint, args.guidance, args.threads, args.out)
