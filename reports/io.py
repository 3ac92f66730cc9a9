"""Atomic writes: every report file is written to a temporary file in the same folder, flushed, fsynced and
renamed over the target, so a crash never leaves a half-written CSV, JSON or PDF behind."""
from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path


def _new_temp(path: Path) -> str:
    """Create an empty temporary file beside `path` with mode 0o666 less the umask, the mode `open()` gives a new
    file (mkstemp's 0o600 would survive the rename and leave every report readable by its owner only)."""
    for _ in range(100):
        tmp = os.path.join(path.parent, f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary name beside {path}")


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success rename it over `path`, on error remove it.  The file ends
    with the permissions a plain `open(path, "w")` would give it (0o666 less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp(path)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_csv(path, frame) -> Path:
    """Write a pandas DataFrame as CSV (no index) atomically."""
    return atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def read_optional_csv(path):
    """A CSV as a DataFrame, or an empty DataFrame when the file is missing or empty (optional report inputs)."""
    import pandas as pd
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
