"""`sim study-merge DIR DIR ... [--out DIR]`: the combined tables and summary of several partial `sim study` runs
(e.g. recipes split across processes) that used the same settings, without sampling."""
from __future__ import annotations

import json
import os

from .. import defaults, preflight
from ..cli import CliError
from .study import _write


def register(sub):
    p = sub.add_parser("study-merge", help="combine partial `sim study` runs (same settings, different recipes)")
    p.add_argument("dirs", nargs="+", help="output folders of `sim study` runs")
    p.add_argument("--out", default=defaults.out_dir("study-merge"),
                   help=f"output folder (default {defaults.out_dir('study-merge')})")
    p.set_defaults(func=run)


def _manifest(d: str) -> dict:
    path = os.path.join(d, "manifest.json")
    if not os.path.isfile(path):
        raise CliError(f"{path}: not found (each folder must hold a `sim study` output)")
    try:
        with open(path, encoding="utf-8") as fh:
            m = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CliError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(m, dict) or not isinstance(m.get("config"), dict) or "recipes" not in m["config"]:
        raise CliError(f"{path}: not a `sim study` manifest (no config.recipes)")
    return m


def _tables(dirs):
    import pandas as pd
    try:
        tidy = pd.concat([pd.read_csv(os.path.join(d, "study_tidy.csv")) for d in dirs], ignore_index=True)
        costs = pd.concat([pd.read_csv(os.path.join(d, "study_costs.csv"), dtype={"formatbook": str})
                           for d in dirs], ignore_index=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CliError(f"{', '.join(dirs)}: a study table is not readable ({' '.join(str(exc).split())})") from None
    costs["formatbook"] = costs["formatbook"].fillna("")
    return tidy, costs


def merge(dirs, out) -> int:
    manifests = [_manifest(d) for d in dirs]
    conf = {k: v for k, v in manifests[0]["config"].items() if k != "recipes"}
    for d, m in zip(dirs, manifests):
        if {k: v for k, v in m["config"].items() if k != "recipes"} != conf:
            raise CliError(f"{d}: run with different settings than {dirs[0]}; only the recipes may differ")
    preflight.out_dir(out)
    conf["recipes"] = [r for m in manifests for r in m["config"]["recipes"]]
    tidy, costs = _tables(dirs)
    notes = list(dict.fromkeys(n for m in manifests for n in m.get("notes", [])))
    _write(str(out), conf, tidy, costs, notes + [f"merged from {len(dirs)} partial runs with identical settings"])
    from ..study_cells import merge_stores       # the merged folder resumes like one run
    merge_stores([os.path.join(d, "cells") for d in dirs], os.path.join(str(out), "cells"))
    return 0


def run(args) -> int:
    return merge(list(args.dirs), args.out)
