"""`sim report DIR`: rebuild the PDF of a `sim run` output folder from its CSVs (nothing is recomputed)."""
from __future__ import annotations

from pathlib import Path

from ..cli import CliError


def register(sub):
    p = sub.add_parser("report", help="rebuild the PDF report of a sim run output folder from its CSVs")
    p.add_argument("dir", help="output folder of sim run")
    p.set_defaults(func=run)


def run(args) -> int:
    from reports.run_report import build_pdf
    out = Path(args.dir)
    if not (out / "manifest.json").exists():
        raise CliError(f"{out}: not a sim run output folder (no manifest.json)")
    print(f"report: {build_pdf(out)}")
    return 0
