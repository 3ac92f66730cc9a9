"""Iso-area and iso-throughput comparison of format-specialized designs: the architect's answer per recipe.

    cmp = compare("opensora2-256px", "edge", ["semanticdialect", "mxfp4", "nvfp4"], normalize="area")
    cmp.rows          # one row per recipe: design, PE array, area, latency, energy (by component), quality

Each recipe gets `specialize(base, recipe)`, then its PE array is scaled (rows and columns together, keeping the
base's aspect ratio; buffers, units and DRAM unchanged) to
- `area`: the largest array whose whole design fits the base design's area (or `area_mm2`), or
- `throughput`: the smallest array whose peak MACs per cycle in the recipe's lane kind reach the base design's
  peak 4-bit MACs per cycle.
Quality comes from a committed study folder (`summary.csv` of `sim study`), by recipe, with its path.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .area import area_mm2
from .energy import load_energy_table
from .estimate import Estimate, estimate
from .recipes import get_recipe
from .schema import SpecError
from .spec import ArchSpec, check_fits_a_tile, load_arch
from .specialize import FOUR_BIT_LANE_MODES, scale_array, specialize

NORMALIZATIONS = ("area", "throughput")
# normalized arrays have rows and columns in steps of ARRAY_STEP PEs (arrays are built from 4x4 PE tiles [ours]):
# odd sizes tile the Open-Sora shapes and the buffers unevenly, which moves DRAM traffic by up to 20 % between
# neighbouring sizes and would drown the formats' differences
ARRAY_STEP = 4
QUALITY_COLUMNS = ("psnr_db", "task_all")
MAX_ROWS = 4096
STUDY_DIR = Path(__file__).resolve().parents[2] / "results" / "study"


@dataclass(frozen=True)
class Comparison:
    rows: pd.DataFrame          # one row per recipe (columns: see reports/codesign_report.py's contract)
    estimates: dict             # recipe -> Estimate
    meta: dict


def _area(spec: ArchSpec, table) -> float:
    return float(sum(area_mm2(spec, table).values()))


def _shapes(base: ArchSpec) -> list:
    """Candidate (rows, cols), smallest first: rows a multiple of ARRAY_STEP, cols the base aspect ratio rounded
    to the step, or one step wider."""
    aspect = base.pe_array.cols / base.pe_array.rows
    out = []
    for rows in range(ARRAY_STEP, MAX_ROWS + 1, ARRAY_STEP):
        cols = max(ARRAY_STEP, round(rows * aspect / ARRAY_STEP) * ARRAY_STEP)
        out += [(rows, cols), (rows, cols + ARRAY_STEP)]
    return out


def peak_quantized_macs(spec: ArchSpec) -> int:
    """Peak MACs per cycle of the design's widest quantized lane kind (4-bit if it has one, else INT8 / FP16)."""
    modes = dict(spec.pe_array.mac_modes)
    pes = spec.pe_array.rows * spec.pe_array.cols
    for group in (FOUR_BIT_LANE_MODES, ("int8", "fp8"), ("w4a16", "fp16")):
        lanes = [modes[m] for m in group if m in modes]
        if lanes:
            return pes * max(lanes)
    return pes


def fit_to_area(spec: ArchSpec, table, target_mm2: float) -> ArchSpec:
    """The largest PE array (base aspect ratio, ARRAY_STEP granularity) whose design area is at most `target_mm2`."""
    shapes = _shapes(spec)
    lo, hi = -1, len(shapes) - 1
    while lo < hi:                        # area grows with the array: bisect on the candidate list
        mid = (lo + hi + 1) // 2
        if _area(scale_array(spec, *shapes[mid]), table) <= target_mm2:
            lo = mid
        else:
            hi = mid - 1
    if lo < 0:
        need = _area(scale_array(spec, *shapes[0]), table)
        raise SpecError(spec.source_file, "area_mm2",
                        f"the {spec.specialized_for} design needs {need:.3f} mm^2 with its smallest array "
                        f"({shapes[0][0]}x{shapes[0][1]} PEs); a target of {target_mm2:.3f} mm^2 cannot be met "
                        f"(valid: at least {need:.3f} mm^2)")
    return scale_array(spec, *shapes[lo])


def fit_to_throughput(spec: ArchSpec, target_macs: int) -> ArchSpec:
    """The smallest PE array (base aspect ratio, ARRAY_STEP granularity) whose peak MACs per cycle reach
    `target_macs`."""
    for shape in _shapes(spec):
        cand = scale_array(spec, *shape)
        if peak_quantized_macs(cand) >= target_macs:
            return cand
    raise SpecError(spec.source_file, "pe_array.rows",
                    f"no array up to {MAX_ROWS} rows reaches {target_macs} MACs per cycle")


def normalized_design(base: ArchSpec, recipe, normalize: str, table, target: float) -> ArchSpec:
    spec = specialize(base, recipe)
    spec = fit_to_area(spec, table, target) if normalize == "area" else fit_to_throughput(spec, int(target))
    try:
        check_fits_a_tile(spec)
    except SpecError as exc:
        raise SpecError(base.source_file, "global_buffer",
                        f"the {normalize}-normalized {spec.specialized_for} design ({spec.pe_array.rows}x"
                        f"{spec.pe_array.cols} PEs) does not fit its buffers: {exc.problem}") from None
    return spec


def load_quality(study, mode: str = "none", columns=QUALITY_COLUMNS) -> tuple:
    """(recipe -> {column: value}, source path) from a `sim study` folder or summary CSV."""
    path = Path(study)
    if not path.is_absolute() and not path.exists() and (STUDY_DIR.parents[1] / path).exists():
        path = STUDY_DIR.parents[1] / path            # a repository-relative path (e.g. results/study)
    path = path / "summary.csv" if path.is_dir() else path
    if not path.is_file():
        raise SpecError(path, "", "no study summary here (expected a `sim study` folder with summary.csv)")
    table = pd.read_csv(path)
    missing = [c for c in ("recipe", *columns) if c not in table.columns]
    if missing:
        raise SpecError(path, missing[0], f"column missing from the study summary; valid quality columns: "
                        f"{', '.join(c for c in table.columns if c not in ('recipe', 'outliers'))}")
    if "outliers" in table.columns:
        modes = sorted(table.outliers.astype(str).unique())
        if mode not in modes:
            raise SpecError(path, "outliers", f"no rows for outlier mode {mode!r}; valid: {', '.join(modes)}")
        table = table[table.outliers.astype(str) == mode]
    return {r.recipe: {c: float(getattr(r, c)) for c in columns} for r in table.itertuples()}, _shown(path)


def _shown(path: Path) -> str:
    """A repository file by its repository-relative path, anything else as given."""
    root = STUDY_DIR.parents[1]
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def _row(recipe: str, normalize: str, est: Estimate) -> dict:
    spec, s = est.sim.arch, est.summary()
    macs = est.sim.total("macs")
    row = {"recipe": recipe, "design": spec.name, "normalize": normalize, "pe_rows": spec.pe_array.rows,
           "pe_cols": spec.pe_array.cols,
           "macs_per_pe_cycle": dict(spec.pe_array.mac_modes).get(get_recipe(recipe).mac_mode, 0),
           "peak_macs_per_cycle": peak_quantized_macs(spec), "area_mm2": s["area_total_mm2"],
           "latency_s": s["latency_s"], "energy_j": s["energy_j"],
           "energy_per_mac_pj": s["energy_j"] / macs * 1e12 if macs else np.nan,
           "avg_power_w": s["energy_j"] / s["latency_s"], "attention_share_of_latency": s["attention_share_of_latency"],
           "attention_share_of_energy": s["attention_share_of_energy"], "dram_bytes": s["dram_bytes"], "macs": macs}
    row.update({f"area.{k}_mm2": v for k, v in s["area_mm2"].items()})
    row.update({f"energy.{k}_j": v for k, v in s["energy_by_component_j"].items()})
    return row


def compare(workload="opensora2-256px", base="edge", recipes=("semanticdialect", "mxfp4", "nvfp4"),
            normalize: str = "area", area_mm2_target: float | None = None, reference: str | None = None,
            study=None, quality_mode: str = "none", full_path: bool = False) -> Comparison:
    if normalize not in NORMALIZATIONS:
        raise SpecError("", "normalize", f"got {normalize!r}; valid: {', '.join(NORMALIZATIONS)}")
    base = base if isinstance(base, ArchSpec) else load_arch(base)
    recipes = [get_recipe(r).name for r in recipes]               # validates every name before any work
    reference = reference or ("nvfp4" if "nvfp4" in recipes else recipes[0])
    if reference not in recipes:
        raise SpecError("", "reference", f"{reference!r} is not among the compared recipes: {', '.join(recipes)}")
    quality, source = load_quality(study, quality_mode) if study is not None else ({}, "")
    table = load_energy_table(base.technology.energy_table)
    target = (area_mm2_target or _area(base, table)) if normalize == "area" else peak_quantized_macs(base)
    designs = {r: normalized_design(base, r, normalize, table, target) for r in recipes}
    ests = {r: estimate(workload, designs[r], r, full_path=full_path) for r in recipes}
    rows = pd.DataFrame([_row(r, normalize, ests[r]) for r in recipes])
    for c in QUALITY_COLUMNS:
        rows[c] = [quality.get(r, {}).get(c, np.nan) for r in recipes]
    rows["quality_source"] = [source if r in quality else "" for r in recipes]
    rows["verdict"] = verdicts(rows, reference, normalize)
    rows["on_front_energy"] = pareto_front(rows, "energy_j")
    rows["on_front_area"] = pareto_front(rows, "area_mm2")
    meta = {"workload": workload, "base_design": base.name, "base_file": base.source_file, "normalize": normalize,
            "target": target, "reference": reference, "node_nm": base.technology.node_nm,
            "energy_table": base.technology.energy_table, "dram_pj_per_bit": base.dram.energy_pj_per_byte / 8,
            "full_path": full_path, "quality_mode": quality_mode, "quality_source": source}
    return Comparison(rows, ests, meta)


def verdicts(rows: pd.DataFrame, reference: str, normalize: str) -> list:
    """One sentence per recipe against the reference recipe."""
    ref = rows.set_index("recipe").loc[reference]
    at = "equal area" if normalize == "area" else "equal peak throughput"
    out = []
    for r in rows.itertuples():
        if r.recipe == reference:
            out.append(f"{r.recipe}: the reference ({r.pe_rows}x{r.pe_cols} PEs, {r.area_mm2:.2f} mm^2)")
            continue
        de = (r.energy_j / ref.energy_j - 1) * 100
        dl = (r.latency_s / ref.latency_s - 1) * 100
        line = (f"{r.recipe}: {abs(de):.1f} % {'less' if de < 0 else 'more'} energy per video than {reference} at "
                f"{at}, {abs(dl):.1f} % {'faster' if dl < 0 else 'slower'}")
        if np.isfinite(r.psnr_db) and np.isfinite(ref.psnr_db):
            line += f", {r.psnr_db - ref.psnr_db:+.2f} dB PSNR"
        out.append(line)
    return out


def pareto_front(rows: pd.DataFrame, cost: str, quality: str = "psnr_db") -> list:
    """True where no other recipe has lower-or-equal cost and higher-or-equal quality, one of them strictly.
    Without quality numbers the front is over cost alone (the cheapest)."""
    c = rows[cost].to_numpy(float)
    q = rows[quality].to_numpy(float) if quality in rows else np.full(len(rows), np.nan)
    q = np.where(np.isfinite(q) | np.isinf(q), q, -np.inf)
    out = []
    for i in range(len(rows)):
        dominated = ((c <= c[i]) & (q >= q[i]) & ((c < c[i]) | (q > q[i]))).any()
        out.append(not dominated)
    return out


def dram_sensitivity(cmp: Comparison, pj_per_bit) -> pd.DataFrame:
    """Energy per video of each compared design at other DRAM energies (counts unchanged, DRAM re-priced)."""
    out = []
    for r in cmp.rows.to_dict("records"):
        rest = r["energy_j"] - r.get("energy.dram_j", 0.0)
        for p in pj_per_bit:
            out.append({"recipe": r["recipe"], "dram_pj_per_bit": float(p),
                        "energy_j": rest + r["dram_bytes"] * 8 * float(p) * 1e-12})
    return pd.DataFrame(out)
