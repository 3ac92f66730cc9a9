"""`sim sample`: sample videos from the tiny VDiT checkpoint and write a PNG grid (and optionally a GIF)."""
from __future__ import annotations

from pathlib import Path

from .. import defaults, preflight
from ..cli import CliError

DEFAULT_CHECKPOINT = defaults.CHECKPOINT
DEFAULT_OUT = defaults.out_dir("sample", "samples.png")
PROMPT_SETS = ("evaluation", "calibration")


def register(sub):
    p = sub.add_parser("sample", help="render sample videos of the tiny VDiT to a PNG grid / GIF")
    p.add_argument("--checkpoint", default=defaults.MODEL,
                   help="shipped model name (tiny) or .safetensors path (default: the tiny one)")
    p.add_argument("--prompts", default="evaluation",
                   help=f"a prompt set ({', '.join(PROMPT_SETS)}) or prompts separated by ';'")
    p.add_argument("--n", type=int, default=8, help="number of prompts taken from the set")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=None, help="CFG scale (default: the checkpoint card's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=DEFAULT_OUT, help=f"PNG grid path (default {DEFAULT_OUT})")
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
    if args.n < 1 or args.steps < 1:
        raise CliError(f"--n and --steps must be at least 1, got {args.n} and {args.steps}")
    path = preflight.checkpoint(args.checkpoint)
    prompts = _prompts(args.prompts, args.n)
    preflight.out_file(args.out)
    if args.gif:
        preflight.out_file(args.gif, "--gif")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    model, _ = vdit.load_checkpoint(str(path))
    if args.outliers:
        inject_outliers(model)
    g = card_guidance() if args.guidance is None else args.guidance
    res = vdit.sample(model, prompts, seed=args.seed, steps=args.steps, guidance=g)
    for path in filter(None, (args.out, args.gif)):   # preflight probed them without leaving folders behind
        Path(path).parent.mkdir(parents=True, exist_ok=True)
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
