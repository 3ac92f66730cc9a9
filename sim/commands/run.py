"""`sim run`: the main job.  Until the full pipeline lands (VDiT on three back ends), it runs the quantization
demo of `sim quantize` on a synthetic heavy-tailed layer with every back end available."""
from __future__ import annotations

from . import quantize


def register(sub):
    p = sub.add_parser("run", help="run the main job on the embedded default")
    p.add_argument("--formats", default=quantize.DEFAULT_FORMATS)
    p.set_defaults(func=lambda a: quantize.run(_defaults(a)))


def _defaults(args):
    args.input, args.m, args.k, args.n, args.seed, args.backends = None, 256, 512, 256, 0, "reference,numba"
    return args
