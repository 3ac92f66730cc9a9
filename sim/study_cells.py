"""The study's cell store: one JSON file per finished cell under `<out>/cells/`, written atomically
(reports.io) by the driver as each cell arrives, so an interrupted `sim study` resumes without redoing them.

    cells/study.json                                   the binding: settings every cell of this store shares
    cells/fp_reference/<outliers>/seed<seed>.json      an FP reference (digest of its latents, task hits, seconds)
    cells/fp_reference/injection-seed<seed>.json       PSNR of FP with outliers injected vs plain FP
    cells/recipes/<outliers>/<recipe>/seed<seed>.json  a recipe cell: per-prompt metrics, costs, warnings

A cell is (checkpoint, outlier mode, recipe, seed) with every prompt inside it (sampling is batched over prompts).
The binding (BINDING_FIELDS) is fixed when the store is created; a run with a different value of one of them is
refused with an error naming the field.  Recipes, seeds and outlier modes may differ between runs on one store:
a later run with more seeds or recipes reuses the cells it shares.  A recipe cell also records the sha256 of its
resolved recipe; when the recipe's definition changed since, the cell is stale and is computed again.
"""
from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path

FORMAT = "sim-study-cells/1"
# what makes two stores' cells comparable; anything else of the config (recipes, seeds, modes, threads) may vary
BINDING_FIELDS = ("checkpoint_sha256", "prompts", "steps", "guidance", "backend", "outlier_seed")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class CellStoreError(ValueError):
    """A cell store that cannot be used with this run: another config, a damaged file, a recomputed FP reference
    that differs from the stored one.  Names the file (and field)."""


def binding_sha256(binding: dict) -> str:
    return hashlib.sha256(json.dumps(binding, sort_keys=True).encode()).hexdigest()


def recipe_sha256(recipe) -> str:
    """sha256 of the resolved recipe (a frozen dataclass, by repr) and of every format it names (the format's repr
    and, for a dialect format, its formatbook's magnitudes): changes when the recipe's or a format's definition
    changes.  (Code changes of a quantizer are not seen; delete the cells after such a change.)"""
    import numpy as np
    import quant
    from quant.registry import formatbook, get_format
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # a book fallback is part of the resolved recipe, not news here
        r = quant.recipe(recipe).resolved()
    h = hashlib.sha256(repr(r).encode())
    for name in sorted(set(re.findall(r"fmt='([^']+)'", repr(r)))):    # every TensorSpec's format, by name
        fmt = get_format(name)
        h.update(repr(fmt).encode())
        if getattr(fmt, "book_name", None):
            h.update(np.ascontiguousarray(formatbook(fmt.book_name).magnitudes).tobytes())
    return h.hexdigest()


class CellStore:
    def __init__(self, folder, binding: dict):
        self.folder = Path(folder)
        self.binding = {k: binding[k] for k in BINDING_FIELDS}
        self.key = binding_sha256(self.binding)
        self._bind()

    # ---- binding ----
    def _bind(self):
        from reports.io import atomic_write_json
        path = self.folder / "study.json"
        if not path.exists():
            atomic_write_json(path, {"format": FORMAT, "binding": self.binding})
            return
        stored = self._read(path).get("binding")
        if not isinstance(stored, dict):
            raise CellStoreError(f"{path}: no 'binding' object (not a `sim study` cell store)")
        for k in BINDING_FIELDS:
            if _jsonable(stored.get(k)) != _jsonable(self.binding[k]):
                raise CellStoreError(
                    f"{path}: field {k!r} is {_short(stored.get(k))} in the stored cells but {_short(self.binding[k])} "
                    f"in this run; use another --out folder, or delete {self.folder} to start over")

    # ---- paths ----
    def fp_path(self, outliers: str, seed: int) -> Path:
        return self.folder / "fp_reference" / _name(outliers) / f"seed{int(seed)}.json"

    def injection_path(self, seed: int) -> Path:
        return self.folder / "fp_reference" / f"injection-seed{int(seed)}.json"

    def cell_path(self, outliers: str, recipe: str, seed: int) -> Path:
        return self.folder / "recipes" / _name(outliers) / _name(recipe) / f"seed{int(seed)}.json"

    # ---- reading ----
    def _read(self, path: Path) -> dict:
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CellStoreError(f"{path}: not valid JSON ({exc}); delete it to recompute that cell") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise CellStoreError(f"{path}: field 'format' is not {FORMAT!r}; delete it to recompute that cell")
        return d

    def _load(self, path: Path):
        if not path.exists():
            return None
        d = self._read(path)
        if d.get("binding_sha256") != self.key:
            raise CellStoreError(f"{path}: field 'binding_sha256' does not match {self.folder / 'study.json'} "
                                 f"(a cell of another study); delete it to recompute that cell")
        return d

    def cell(self, outliers: str, recipe: str, seed: int, recipe_sha: str | None = None):
        """The stored recipe cell, or None when missing or stale (recipe_sha given and different)."""
        d = self._load(self.cell_path(outliers, recipe, seed))
        if d is None or (recipe_sha is not None and d.get("recipe_sha256") != recipe_sha):
            return None
        return d

    def fp(self, outliers: str, seed: int):
        return self._load(self.fp_path(outliers, seed))

    def injection(self, seed: int):
        return self._load(self.injection_path(seed))

    # ---- writing (the driver only: one writer) ----
    def _write(self, path: Path, record: dict):
        from reports.io import atomic_write_json
        atomic_write_json(path, {"format": FORMAT, "binding_sha256": self.key, **record})

    def put_cell(self, record: dict):
        self._write(self.cell_path(record["outliers"], record["recipe"], record["seed"]), record)

    def put_fp(self, record: dict):
        """Store an FP reference; when one is stored already, the recomputed one must have the same latents."""
        old = self.fp(record["outliers"], record["seed"])
        if old is not None and old.get("latents_sha256") != record["latents_sha256"]:
            raise CellStoreError(
                f"{self.fp_path(record['outliers'], record['seed'])}: field 'latents_sha256': the recomputed FP "
                f"reference differs from the stored one (sampling is not deterministic here, or the code changed); "
                f"delete {self.folder} to start over")
        if old is None:
            self._write(self.fp_path(record["outliers"], record["seed"]), record)

    def put_injection(self, seed: int, psnr_db: float):
        self._write(self.injection_path(seed), {"seed": int(seed), "psnr_db": float(psnr_db)})


def _name(s: str) -> str:
    if not _NAME.match(str(s)):
        raise CellStoreError(f"{s!r}: not usable as a cell file name (letters, digits, '_', '.', '+', '-')")
    return str(s)


def _jsonable(v):
    return json.loads(json.dumps(v))            # tuples and lists compare equal, as they do once stored


def _short(v) -> str:
    s = json.dumps(v)
    return s if len(s) <= 80 else s[:77] + "..."


def merge_stores(folders, out) -> int:
    """Copy the cells of several stores with one binding into `out` (a study folder's `cells/`), so the merged
    study resumes like one run.  A cell stored in two of them must hold the same record (its `seconds` aside);
    returns the number of cell files in `out`."""
    from reports.io import atomic_write_bytes
    stores = [Path(f) for f in folders if (Path(f) / "study.json").is_file()]
    if not stores:
        return 0
    first = json.loads((stores[0] / "study.json").read_text(encoding="utf-8")).get("binding")
    for s in stores[1:]:
        if json.loads((s / "study.json").read_text(encoding="utf-8")).get("binding") != first:
            raise CellStoreError(f"{s / 'study.json'}: field 'binding' differs from {stores[0] / 'study.json'}; "
                                 f"only cells of one study (checkpoint, prompts, steps, guidance, back end) merge")
    out, origin = Path(out), {}
    for s in stores:
        for f in sorted(s.rglob("*.json")):
            rel = f.relative_to(s)
            data = f.read_bytes()
            if rel in origin and _record(origin[rel][1]) != _record(data):
                raise CellStoreError(f"{f}: holds another record than {origin[rel][0]} for the same cell; "
                                     f"keep one of the two files")
            origin.setdefault(rel, (f, data))
    for rel, (_, data) in origin.items():
        atomic_write_bytes(out / rel, data)
    return len(origin)


def _record(data: bytes):
    """A stored record without its run time (the part two runs of one cell may differ in)."""
    d = json.loads(data)
    if isinstance(d, dict):
        d.pop("seconds", None)
    return d
