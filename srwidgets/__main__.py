"""Command line: ``python -m srwidgets <command> ...``.

Commands: ``sr`` (super-resolve an image), ``lam`` (Local Attribution Map, or any window method with
``--method``), ``cem`` (Causal Effect Map), ``ddr`` (Deep Degradation Representation), ``faig`` (Filter Attribution
based on Integrated Gradients), ``di-table`` (DI over a dataset), ``trust`` (faithfulness curves and sanity checks),
``zoo`` (list shipped models).
Each command lives in ``srwidgets/cli/<command>.py`` with ``add_parser(subparsers)`` and ``run(args)``.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys
from typing import List, Sequence, Set

COMMANDS = ["sr", "lam", "cem", "ddr", "faig", "di_table", "trust", "zoo"]

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
    from .cli._common import mark_default_outputs, resolve_default_outputs, short_errors

    for parser in sub.choices.values():  # usage errors in two lines, not argparse's block of every option
        short_errors(parser)
        mark_default_outputs(parser)  # a default output name (lam.png) never replaces an existing file
    argv = list(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(join_negative_values(argv, _value_options([ap, *sub.choices.values()])))
    if not args.command:
        ap.print_help()
        return 2
    from .errors import Cancelled, InputError

    parser = sub.choices.get(args.command.replace("_", "-")) or sub.choices.get(args.command)
    words = flag_words(parser) if parser is not None else {}
    try:
        resolve_default_outputs(args)
        return mods[args.command].run(args) or 0
    except InputError as e:
        print(f"error: {cli_message(str(e), words)}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as e:
        if isinstance(e, MemoryError) or _is_out_of_memory(e):
            print("error: image too large for the memory of this machine (an allocation failed while computing); "
                  "crop or downsample it", file=sys.stderr)
            return 2
        return _internal_error(e)
    except BrokenPipeError:  # the reader closed early (`... | head`): not an error; silence the final flush
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (KeyboardInterrupt, Cancelled):
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001  (a bug, not bad input: one line, the traceback on request)
        return _internal_error(e)


def _is_out_of_memory(e: BaseException) -> bool:
    text = str(e).lower()
    return "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text


def _internal_error(e: BaseException) -> int:
    """An unexpected error: one line on stderr (exit 1); ``SRWIDGETS_TRACEBACK=1`` prints the traceback."""
    import os

    if os.environ.get("SRWIDGETS_TRACEBACK"):
        import traceback

        traceback.print_exc()
    first = (str(e).strip().splitlines() or [""])[0][:300]
    print(f"error: unexpected {type(e).__name__}: {first} (a bug in srwidgets, not in your input: please report "
          "it; SRWIDGETS_TRACEBACK=1 shows where)", file=sys.stderr)
    return 1


def flag_words(parser: argparse.ArgumentParser) -> dict:
    """``{keyword: flag}`` for a command's options that take a value or are switches: ``kernel_size`` ->
    ``--kernel-size``, plus the engines' names for the same values (``stride`` of ``--atlas-stride``)."""
    words = {}
    for action in parser._actions:  # argparse has no public listing of a parser's options
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and action.dest not in ("help",):
            words[action.dest] = longs[0]
            words[longs[0][2:].replace("-", "_")] = longs[0]
    if "atlas_stride" in words:
        words.setdefault("stride", words["atlas_stride"])
    return words


_KEYWORD = re.compile(r"(?<![\w.(\-])(?<!, )([a-z][a-z0-9_]*)=(True|False|None|'[^']*'|\"[^\"]*\"|[^\s,;:)]+)?")
_BARE = re.compile(r"(?<![\w\-.'\"])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w(=])")
_LEADING = re.compile(r"^([a-z][a-z0-9_]*) (must\b|is\b|has\b|should\b|cannot\b|needs\b|')")


def cli_message(text: str, words: dict) -> str:
    """An engine's message in the CLI's terms: ``csv='x'`` -> ``--csv 'x'``, ``downsample=True`` ->
    ``--downsample``, ``on_error="skip"`` -> ``--on-error skip``, ``kernel_size`` -> ``--kernel-size``, a leading
    ``steps must`` -> ``--steps must``; only for this command's flags (``load_image(x, convert=True)``, a call, is
    left alone).

    >>> cli_message('downsample=True needs on_error="skip"; kernel_size must be odd', {
    ...     "downsample": "--downsample", "on_error": "--on-error", "kernel_size": "--kernel-size"})
    '--downsample needs --on-error skip; --kernel-size must be odd'
    """
    def keyword(m):
        name, value = m.group(1), m.group(2)
        if name not in words:
            return m.group(0)
        if value in ("True", None):
            return words[name]
        if value in ("False",):
            return f"no {words[name]}"
        if value[:1] in "'\"" and value[-1:] == value[:1]:
            inner = value[1:-1]
            value = inner if inner and re.fullmatch(r"[\w:\-+]+", inner) else repr(inner)
        return f"{words[name]} {value}"

    if "convert" in words:  # an engine's grey / transparent message: this command's fix is --convert
        from .data import NeedsConvert

        text = NeedsConvert.reword(text, words["convert"])
    text = _KEYWORD.sub(keyword, text)
    text = _BARE.sub(lambda m: words.get(m.group(1), m.group(0)), text)
    return _LEADING.sub(lambda m: f"{words[m.group(1)]} {m.group(2)}" if m.group(1) in words else m.group(0), text)


if __name__ == "__main__":
    sys.exit(main())
