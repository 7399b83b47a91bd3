"""The command line's argparse parser, for sphinx-argparse (docs/cli.rst).

``python -m srwidgets`` builds its parser inside ``main``; this builds the same one from the same public pieces
(``srwidgets.__main__.COMMANDS`` and each command module's ``add_parser``), so the page lists exactly the options
the command accepts.
"""
from __future__ import annotations

import argparse
import importlib


def parser() -> argparse.ArgumentParser:
    from srwidgets.__main__ import COMMANDS

    ap = argparse.ArgumentParser(prog="python -m srwidgets", description="Look inside super-resolution networks.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"srwidgets.cli.{name}").add_parser(sub)
    return ap
