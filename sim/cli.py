"""The `sim` command line.  Each subcommand lives in its own module under sim/commands/ and exposes
`register(subparsers)`; this file only discovers them, so adding a command is one file."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from quant.errors import QuantError
from reports.io import OutputFolderError

from . import commands

EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sim", description="4-bit video DiT accelerator co-design suite")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. `sim estimate | head`
        sys.stderr.close()
        return 0
    except (CliError, QuantError, FileNotFoundError, OutputFolderError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        print(f"sim {args.command}: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
