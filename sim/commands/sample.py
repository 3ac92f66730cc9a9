"""`sim sample`: sample videos from the tiny VDiT checkpoint and write a PNG grid (and optionally a GIF)."""
from __future__ import annotations

import os

from ..cli import CliError

DEFAULT_CHECKPOINT = os.path.join("vdit", "checkpoints", "tiny.safetensors")
PROMPT_SETS = ("evaluation", "calibration")


def register(sub):
    p = sub.add_parser("sample", help="render sample videos of the tiny VDiT to a PNG grid / GIF")
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="safetensors checkpoint (default: the tiny one)")
    p.add_argument("--prompts", default="evaluation",
                   help=f"a prompt set ({', '.join(PROMPT_SETS)}) or prompts separated by ';'")
    p.add_argument("--n", type=int, default=8, help="number of prompts taken from the set")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=None, help="CFG scale (default: the checkpoint card's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="samples.png", help="PNG grid path")
    p.add_argument("--gif", default=None, help="also write an animated GIF here")
    p.add_argument("--outliers", action="store_true", help="STRESS MODE: inject function-preserving outliers first")
    p.set_defaults(func=run)


def _prompts(spec: str, n: int):
    import vdit
    if spec in PROMPT_SETS:
        return (vdit.EVALUATION_PROMPTS if spec == "evaluation" else vdit.CALIBRATION_PROMPTS)[:n]
    prompts = tuple(p.strip() for p in spec.split(";") if p.strip())
    for p in prompts:
        try:
            vdit.parse_prompt(p)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    return prompts


def run(args) -> int:
    import torch

    import vdit
    from vdit import render, tasks
    from vdit.outliers import inject_outliers
    from vdit.release import card_guidance
    if not os.path.exists(args.checkpoint):
        raise CliError(f"checkpoint {args.checkpoint} not found (train one with `python -m vdit.train`)")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    model, _ = vdit.load_checkpoint(args.checkpoint)
    if args.outliers:
        inject_outliers(model)
    prompts = _prompts(args.prompts, args.n)
    g = card_guidance() if args.guidance is None else args.guidance
    res = vdit.sample(model, prompts, seed=args.seed, steps=args.steps, guidance=g)
    render.save_png(res.frames, args.out, prompts)
    if args.gif:
        render.save_gif(res.frames, args.gif)
    for p, v in zip(prompts, res.frames):
        r = tasks.read_video(v.numpy())
        print(f"{p:32s} -> colour {r.colour}, shape {r.shape}, direction {r.direction}")
    acc = tasks.task_accuracy(res.frames.numpy(), prompts)
    print("task accuracy: " + ", ".join(f"{k} {v:.2f}" for k, v in acc.items()))
    print(f"wrote {args.out}" + (f" and {args.gif}" if args.gif else ""))
    return 0
