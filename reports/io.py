"""Atomic writes: every report file is written to a temporary file in the same folder, flushed, fsynced and
renamed over the target, so a crash never leaves a half-written CSV, JSON or PDF behind.

Run folders: a run writes its whole output folder through `staged_folder(out)`: the files go into a sibling
`<out>.tmp-<pid>` and the folder is swapped in whole at the end, so `out` always holds one complete run (the
earlier one until the new one is complete, never a mix).  `run_lock(out)` (taken by `staged_folder`, and by a
command at its start so a busy folder is refused before any work) holds an exclusive lock on the sibling
`<out>.lock`, which records the holder's pid; a second run into the same folder gets `OutputFolderError`.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import secrets
import shutil
import sys
import threading
from contextlib import ExitStack, contextmanager
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


@contextmanager
def staged_files(folder):
    """Yield `stage(name)`, which gives a temporary path for file `name` of `folder`; the staged files are renamed
    into place together when the body ends, and all removed when it fails, so a folder that cannot be swapped
    whole (a sweep's, beside its results store) never mixes files of two reports."""
    folder = Path(folder)
    with ExitStack() as stack:
        yield lambda name: stack.enter_context(atomic_path(folder / name))


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


RUN_MARKER = ".sim-output"       # in every staged folder: a folder holding it (or nothing) may be replaced whole
EARLIER_RUN_FILES = ("manifest.json", "codesign_meta.json")   # run folders written before the marker existed


class OutputFolderError(Exception):
    """An output folder that cannot be used: another run holds it, it is not a folder, or it cannot be created."""


_held: dict = {}                 # resolved out folder -> [lock fd, nesting depth] of this process
_held_guard = threading.Lock()


def _sibling(out: Path, suffix: str) -> Path:
    return out.with_name(out.name + suffix)


@contextmanager
def run_lock(out):
    """Hold the exclusive lock of output folder `out` (the sibling file `<out>.lock`) for the body.  Re-entrant in
    one process (a command locks at its start, its writer locks again).  Raises OutputFolderError naming the folder
    and the holder's pid when another process holds it."""
    out = Path(out).resolve()
    key = str(out)
    with _held_guard:
        if key in _held:
            _held[key][1] += 1
        else:
            _held[key] = [_acquire(out), 1]
    try:
        yield out
    finally:
        with _held_guard:
            _held[key][1] -= 1
            if _held[key][1] == 0:
                fd = _held.pop(key)[0]
                _release(out, fd)


def _acquire(out: Path) -> int:
    lock = _sibling(out, ".lock")
    while True:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputFolderError(f"output folder {out}: cannot create its lock file {lock}: "
                                    f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputFolderError(f"output folder {out} is in use by another run (pid {holder}, lock {lock}); "
                                    f"wait for it to finish or choose another --out") from None
        # A holder removes the lock file before it lets go, so the file just locked may be gone: retry on the
        # file that is on disk now, or two runs could each hold a lock on a different inode.
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _release(out: Path, fd: int):
    try:
        _sibling(out, ".lock").unlink(missing_ok=True)   # while still holding it (see _acquire)
    finally:
        os.close(fd)


@contextmanager
def staged_folder(out):
    """Yield an empty temporary sibling folder `<out>.tmp-<pid>` to write a run into; when the body succeeds it
    replaces `out` whole (an atomic exchange on Linux), when it fails it is removed and `out` is untouched.  The
    folder's lock is held throughout.  An existing `out` is replaced only when it is empty or holds an earlier
    run (a mistyped `--out .` must not swap away a source tree)."""
    out = Path(out)
    with run_lock(out) as real:
        _recover(real)
        _check_replaceable(out, real)
        tmp = _sibling(real, f".tmp-{os.getpid()}")
        try:
            tmp.mkdir()
        except OSError as exc:
            raise OutputFolderError(f"output folder {out}: cannot create {tmp}: {exc.strerror or exc}") from None
        try:
            (tmp / RUN_MARKER).write_text("written by reports.io.staged_folder; replaced whole by the next run\n")
            yield tmp
            _swap_in(tmp, real)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def check_replaceable(out):
    """Raise OutputFolderError unless `staged_folder(out)` may replace `out` (absent, empty, or an earlier run):
    a command calls it before its work, so a bad --out is refused before, not after."""
    _check_replaceable(Path(out), Path(out).resolve())


def _check_replaceable(out: Path, real: Path):
    if not real.exists():
        return
    if not real.is_dir():
        raise OutputFolderError(f"output folder {out}: exists and is not a folder")
    names = {p.name for p in real.iterdir()}
    if names and RUN_MARKER not in names and not names & set(EARLIER_RUN_FILES):
        raise OutputFolderError(f"output folder {out}: exists and does not hold an earlier run (no {RUN_MARKER} "
                                f"or manifest.json); a run replaces its folder whole, so choose a new or empty one")


def _leftovers(out: Path, tag: str) -> list:
    """Siblings `<out>.<tag>-<pid>` left by runs that died (only called under the folder's lock)."""
    prefix = f"{out.name}.{tag}-"
    return sorted((p for p in out.parent.iterdir() if p.name.startswith(prefix) and p.name[len(prefix):].isdigit()),
                  key=lambda p: p.stat().st_mtime)


def _recover(out: Path):
    """Clean up after a run that died: its partial folder goes; a complete earlier run set aside by the two-rename
    swap (no atomic exchange) comes back when the new one never arrived."""
    for tmp in _leftovers(out, "tmp"):
        shutil.rmtree(tmp, ignore_errors=True)
    olds = _leftovers(out, "old")
    if olds and not out.exists():
        os.rename(olds.pop(), out)
    for old in olds:
        shutil.rmtree(old, ignore_errors=True)


def _swap_in(new: Path, out: Path):
    if not out.exists():
        os.rename(new, out)
    elif _exchange(new, out):
        shutil.rmtree(new)                       # `new` now holds the earlier run
    else:
        old = _sibling(out, f".old-{os.getpid()}")
        os.rename(out, old)
        os.rename(new, out)
        shutil.rmtree(old)
    _fsync_dir(out.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync_dir(folder: Path):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
