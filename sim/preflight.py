"""Checks every command runs before any work: names (recipes, back ends, workloads, designs), files (arch YAML,
checkpoint headers) and output locations (created and probed for writability).  Each failure is an InputError
whose message names the flag or field and the file, so that a typo costs a second, not a sampling run.

    preflight.out_dir("out/run", "--out")            # probes it; refuses a file, /proc/..., a read-only folder
    preflight.checkpoint("tiny", "--checkpoint")     # shipped name or .safetensors path; header + config checked
    preflight.arch("edge", "--arch")                 # loads and validates the design (overrides too)
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from . import defaults


class InputError(ValueError):
    """A user error found before work: one line naming where (flag or file and field) and what is valid."""


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def out_dir(path, where: str = "--out") -> Path:
    """Prove the output folder writable before any work: create it (and parents) if missing, write and remove a
    probe file, then remove the folders this check created, so that a run refused later leaves nothing behind
    and the writer still finds the folder as the user left it."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{where} {p}: exists and is not a folder")
    created = [d for d in (p, *p.parents) if not d.exists()]
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=p)
        try:
            os.write(fd, b"probe")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{where} {p}: cannot write there ({_os_reason(exc)})") from None
    finally:
        for d in created:                     # deepest first
            try:
                d.rmdir()
            except OSError:
                break
    return p


def out_file(path, where: str = "--out") -> Path:
    """A file to be written: not a folder, and its folder writable (created if missing)."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{where} {p}: is a folder; give a file path")
    out_dir(p.parent if str(p.parent) else ".", where)
    return p


def input_file(path, where: str) -> Path:
    """A file to be read: exists and is a regular file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{where} {p}: no such file")
    if not p.is_file():
        raise InputError(f"{where} {p}: is {'a folder' if p.is_dir() else 'not a regular file'}; give a file")
    return p


def checkpoint(name_or_path, where: str = "--checkpoint") -> Path:
    """A shipped model name or a .safetensors path whose header and derived model config are valid (the
    tensors themselves are read later, by vdit.load_checkpoint, which checks every key and shape)."""
    from vdit.checkpoint import CheckpointError, SafetensorsFile, derive_config
    p = defaults.checkpoint_path(name_or_path)
    if not p.exists():
        raise InputError(f"{where}: no checkpoint {p} (shipped models: {', '.join(defaults.SHIPPED_MODELS)}, or "
                         f"a .safetensors path; train one with `python -m vdit.train`)")
    input_file(p, where)
    try:
        derive_config(SafetensorsFile(p))
    except CheckpointError as exc:
        raise InputError(f"{where}: {exc}") from None
    return p


def arch(name_or_path, where: str = "--arch", overrides: dict | None = None):
    """The design, loaded and validated (errors name the YAML file and the field)."""
    from sim.accel.schema import SpecError
    from sim.accel.spec import load_arch
    try:
        return load_arch(name_or_path, overrides)
    except SpecError as exc:
        raise InputError(f"{where}: {exc}") from None


def _one_of(kind: str, names, valid, where: str):
    for n in names:
        if n not in valid:
            raise InputError(f"{where}: unknown {kind} {n!r}; valid: {', '.join(valid)}")
    return tuple(names)


def recipes(names, where: str = "--recipe") -> tuple:
    import quant
    return _one_of("recipe", names, quant.recipe_names(), where)


def backends(names, where: str = "--backend") -> tuple:
    import quant
    return _one_of("back end", names, quant.backend_names(), where)


def workloads(names, where: str = "--workload") -> tuple:
    from sim.accel.workload import workload_names
    return _one_of("workload", names, workload_names(), where)


def formats(names, where: str = "--formats") -> tuple:
    import quant
    from quant.errors import QuantError
    for n in names:
        try:
            quant.get_format(n)
        except (QuantError, KeyError) as exc:
            raise InputError(f"{where}: {exc.args[0] if exc.args else exc}") from None
    return tuple(names)


def csv_list(text: str, where: str) -> tuple:
    """Comma-separated names; at least one."""
    items = tuple(t.strip() for t in str(text).split(",") if t.strip())
    if not items:
        raise InputError(f"{where}: give at least one name (comma-separated)")
    return items
