"""`sim report DIR`: rebuild the PDF of a `sim run` output folder from its CSVs (nothing is recomputed).  The
folder's manifest and every CSV are parsed first; a damaged one is refused naming the file (exit 2)."""
from __future__ import annotations

import json
from pathlib import Path

from ..cli import CliError


def register(sub):
    p = sub.add_parser("report", help="rebuild the PDF report of a sim run output folder from its CSVs")
    p.add_argument("dir", help="output folder of sim run")
    p.set_defaults(func=run)


def check_run_folder(out: Path) -> None:
    """The manifest is a JSON object whose `config` is an object; every CSV parses as a table."""
    import pandas as pd
    manifest = out / "manifest.json"
    if not out.is_dir() or not manifest.is_file():
        raise CliError(f"{out}: not a sim run output folder (no manifest.json)")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CliError(f"{manifest}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("config", {}), dict):
        raise CliError(f"{manifest}: expected a JSON object with a 'config' object (written by sim run)")
    for csv in sorted(out.glob("*.csv")):
        if csv.stat().st_size == 0:
            continue                   # an empty optional table, as the report expects
        try:
            pd.read_csv(csv)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
            raise CliError(f"{csv}: not a readable CSV table ({' '.join(str(exc).split())})") from None


def run(args) -> int:
    from reports.run_report import build_pdf
    out = Path(args.dir)
    check_run_folder(out)
    try:
        pdf = build_pdf(out)
    except KeyError as exc:       # a CSV that parses but lacks a column the pages read (edited, or foreign)
        name = exc.args[0] if exc.args else exc
        raise CliError(f"{out}: a table lacks the column {name!r} that the report reads; rerun `sim run` to "
                       f"regenerate the folder") from None
    print(f"report: {pdf}")
    return 0
