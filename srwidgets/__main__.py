"""Command line: ``python -m srwidgets <command> ...``.

Commands: ``sr`` (super-resolve an image), ``lam`` (Local Attribution Map), ``zoo`` (list shipped models).
Each command lives in ``srwidgets/cli/<command>.py`` with ``add_parser(subparsers)`` and ``run(args)``.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ["sr", "lam", "zoo"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m srwidgets", description="Look inside super-resolution networks.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    mods = {}
    for name in COMMANDS:
        try:
            mods[name] = importlib.import_module(f"srwidgets.cli.{name}")
        except ModuleNotFoundError as e:  # a command still being written
            if e.name != f"srwidgets.cli.{name}":
                raise
            continue
        mods[name].add_parser(sub)
    args = ap.parse_args(argv)
    if not args.command:
        ap.print_help()
        return 2
    from .errors import InputError

    try:
        return mods[args.command].run(args) or 0
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
