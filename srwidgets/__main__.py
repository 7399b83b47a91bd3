"""Command line: ``python -m srwidgets <command> ...``.

Commands: ``sr`` (super-resolve an image), ``lam`` (Local Attribution Map), ``ddr`` (Deep Degradation
Representation), ``faig`` (Filter Attribution based on Integrated Gradients), ``zoo`` (list shipped models).
Each command lives in ``srwidgets/cli/<command>.py`` with ``add_parser(subparsers)`` and ``run(args)``.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys
from typing import List, Sequence, Set

COMMANDS = ["sr", "lam", "ddr", "faig", "di_table", "zoo"]

# a value argparse would take for an option because it starts with "-": -5, -0.5, -5,0,16, -.5
_NEGATIVE = re.compile(r"^-\.?\d")


def _value_options(parsers: Sequence[argparse.ArgumentParser]) -> Set[str]:
    """Option strings (``--window``) that take a value, over all ``parsers``."""
    found = set()
    for p in parsers:
        for action in p._actions:  # argparse has no public listing of a parser's options
            if action.option_strings and action.nargs != 0:
                found.update(action.option_strings)
    return found


def join_negative_values(argv: Sequence[str], options: Set[str]) -> List[str]:
    """``--window -5,0,16`` -> ``--window=-5,0,16`` for the options in ``options``.

    argparse takes a separate value starting with ``-`` for an option unless it is a plain negative number, so a
    negative window corner would end in "expected one argument" instead of the engine's own message on where the
    window may lie. Only values that look numeric are joined: ``--out --device`` stays a missing value."""
    out: List[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":  # everything after is positional
            out.extend(argv[i:])
            break
        if arg in options and i + 1 < len(argv) and _NEGATIVE.match(argv[i + 1]):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


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
    argv = list(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(join_negative_values(argv, _value_options([ap, *sub.choices.values()])))
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
