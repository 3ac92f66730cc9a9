"""The `sim` command line.  Each subcommand lives in its own module under sim/commands/ and exposes
`register(subparsers)`; this file only discovers them, so adding a command is one file.

One error path: every error a user can cause (the classes in `user_errors()`) is printed as one line
`sim COMMAND: error: WHERE: WHAT` and exits 2; argument errors also print one line and exit 2; Ctrl-C prints one
line (with the command's resume hint, e.g. for a sweep) and exits 130.  Anything else is a bug in this suite and
keeps its traceback."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import commands

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130          # 128 + SIGINT, what shells report for Ctrl-C


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


# The exception classes a user can cause, all mapped to exit code 2, as (module, class) so that the list is in one
# place; each names the file and field, tensor, key or layer in its message.  Named, not imported: their modules
# pull in torch (vdit.checkpoint) and matplotlib (reports.codesign_report), which `sim estimate` never needs.
USER_ERRORS = (
    ("sim.cli", "CliError"),
    ("quant.errors", "QuantError"),                      # incl. UnknownNameError, NonFiniteError, ShapeError
    ("sim.accel.schema", "SpecError"),                   # arch / energy YAML
    ("sim.pipeline.config", "RunConfigError"),           # run config YAML
    ("sim.preflight", "InputError"),                     # names, files and output folders checked before work
    ("sim.sweep.spec", "SweepSpecError"),                # sweep YAML, incl. its space
    ("sim.sweep.store", "StoreError"),                   # results.sqlite: corrupt, or of another sweep
    ("sim.study_cells", "CellStoreError"),               # a study's cells/: of another config, or damaged
    ("vdit.checkpoint", "CheckpointError"),              # safetensors header, keys, shapes
    ("reports.codesign_report", "CodesignInputError"),
    ("reports.io", "OutputFolderError"),                 # --out in use by another run, or not a run folder
)


def user_errors(loaded_only: bool = False) -> tuple:
    """The user-error classes; loaded_only: only those whose module is already imported -- enough to classify an
    exception that was raised, since raising one means its module was imported."""
    out = []
    for module, name in USER_ERRORS:
        mod = sys.modules.get(module) if loaded_only else importlib.import_module(module)
        if mod is not None:
            out.append(getattr(mod, name))
    return tuple(out)


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (`sim gemm: error: argument --m: ...`), exit 2, like every other user error."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sim", description="4-bit video DiT accelerator co-design suite")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:       # e.g. FileNotFoundError: say the file, not the errno
        where = exc.filename if exc.filename is not None else ""
        return f"{where}: {exc.strerror}" if where else exc.strerror
    if isinstance(exc, KeyError) and exc.args:         # KeyError's str() adds quotes around the message
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:                          # --help (0) or an argument error (2, already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. `sim estimate | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        hint = getattr(args, "resume_hint", None)
        print(f"sim {args.command}: interrupted" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if not isinstance(exc, (*user_errors(loaded_only=True), FileNotFoundError, IsADirectoryError,
                                NotADirectoryError, PermissionError)):
            raise                                      # a bug in this suite keeps its traceback
        msg = " ".join(_message(exc).split("\n"))       # one line, whatever the message held
        print(f"sim {args.command}: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
