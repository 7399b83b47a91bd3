"""The window-attribution family on the command line (``lam``, ``di-table``): ``--method`` and one flag per knob,
generated from the members' declarations (:func:`srwidgets.attribution.knobs_of`): knob ``kernel_size`` is
``--kernel-size``; the text is read by the knob (:meth:`~srwidgets.attribution.Knob.parse`: an integer, a number,
one of the choices, ``true`` / ``false``, a layer's index or name). A member's new knob is a new flag with no edit
here; members of other installed packages (entry-point group ``srwidgets.methods``) get theirs the same way.

Parsing is two-phase: the command's parser first finds ``--method`` (default ``lam``), then shows that member's
knob flags (in ``--help``) and parses. A wrapper that takes another member's knobs (``open_knobs``: SmoothGrad)
also takes the knobs of the member its choice knob names (``--method smoothgrad --inner ig --baseline blurred``).
``--help`` lists the default method's knobs; ``python -m srwidgets lam --method ig --help`` lists ig's. A knob
flag of another member is refused in words (``--path is a knob of --method lam, not of --method gradient``).

Only the knobs given on the command line are passed on: the others keep the member's defaults (``--help`` shows
them).
"""
from __future__ import annotations

import argparse
import sys
from typing import Dict, Optional, Sequence, Tuple

from ..errors import InputError

__all__ = ["DEFAULT_METHOD", "add_method_option", "knob_flag", "method_knobs", "check_method_flags"]

DEFAULT_METHOD = "lam"
"""The member a command runs without ``--method``."""

_PREFIX = "knob__"  # the namespace attribute of a knob flag: knob__<knob name>


def knob_flag(knob) -> str:
    """``--<name with _ as ->``: the knob's flag."""
    return "--" + knob.name.replace("_", "-")


def _members() -> Dict[str, type]:
    from ..attribution import members

    return members()


def _chosen(argv: Sequence[str], option: str, default: Optional[str]) -> Optional[str]:
    """The value of the last ``option`` in ``argv`` (``--method ig`` or ``--method=ig``), else ``default``."""
    value = default
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == option and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(option + "="):
            value = arg[len(option) + 1:]
    return value


def _knob(cls, name: str):
    from ..attribution import knobs_of

    return next((k for k in knobs_of(cls) if k.name == name), None)


def _inner(cls, argv: Sequence[str]) -> Optional[Tuple[str, type]]:
    """``(name, class)`` of the member a wrapper (``open_knobs``) runs: the value of its choice knob that names a
    member (``--inner ig``, or that knob's default)."""
    from ..attribution import knobs_of

    if cls is None or not getattr(cls, "open_knobs", False):
        return None
    members = _members()
    for knob in knobs_of(cls):
        if knob.kind == "choice":
            name = _chosen(argv, knob_flag(knob), knob.default if isinstance(knob.default, str) else None)
            if name in members and not getattr(members[name], "open_knobs", False):
                return name, members[name]
    return None


class _Flags:
    """The knob flags of one command's parser: every member's, shown in ``--help`` for the chosen one only."""

    def __init__(self, parser: argparse.ArgumentParser, command: str, default: str):
        self.parser, self.command, self.default = parser, command, default
        self.group = parser.add_argument_group("knobs")
        self.actions: Dict[str, argparse.Action] = {}  # knob name -> its flag's action
        self.inner_group = parser.add_argument_group("knobs of the wrapped method")

    def ensure(self) -> None:
        """A flag for every knob of every member registered now (a name the command uses already, e.g. a knob
        ``model``, gets ``--knob-model``)."""
        from ..attribution import knobs_of

        taken = self.parser._option_string_actions  # argparse has no public listing of a parser's options
        for cls in _members().values():
            for knob in knobs_of(cls):
                if knob.name in self.actions:
                    continue
                flag = knob_flag(knob)
                if flag in taken:
                    flag = "--knob-" + knob.name.replace("_", "-")
                self.actions[knob.name] = self.group.add_argument(flag, dest=_PREFIX + knob.name,
                                                                  default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def show(self, argv: Sequence[str]) -> None:
        """``--help`` shows the knobs of the member ``argv`` chooses (and of the member a wrapper runs)."""
        from ..attribution import knobs_of

        self.ensure()
        name = _chosen(argv, "--method", self.default)
        members = _members()
        cls = members.get(name)
        for action in self.actions.values():
            action.help = argparse.SUPPRESS
        self.group._group_actions.extend(self.inner_group._group_actions)  # noqa: SLF001  (argparse's groups)
        self.inner_group._group_actions.clear()
        self.group.title = f"knobs of --method {name} (another method's: python -m srwidgets {self.command} " \
                           "--method NAME --help)"
        shown = set()
        inner = _inner(cls, argv)
        sections = [(name, cls, self.group)] + ([(inner[0], inner[1], self.inner_group)] if inner else [])
        for owner, klass, group in sections:
            if klass is None:
                continue
            for knob in knobs_of(klass):
                if knob.name in shown:
                    continue  # the wrapper's own knob of that name comes first
                shown.add(knob.name)
                action = self.actions[knob.name]
                _describe(action, knob)
                if group is self.inner_group:
                    self.inner_group.title = f"knobs of the method --method {name} runs ({owner}), passed on to it"
                    self.group._group_actions.remove(action)  # noqa: SLF001  (shown under the inner method)
                    self.inner_group._group_actions.append(action)


def _describe(action: argparse.Action, knob) -> None:
    """The flag's help and metavar from the knob: what it takes and its default."""
    default = knob.default
    shown = "" if default is None else f" (default: {str(default).lower() if knob.kind == 'bool' else default})"
    takes = knob.takes()
    text = f"{knob.help}: {takes}" if knob.help and knob.kind in ("choice", "layer") else (knob.help or takes)
    action.help = f"{text}{shown}".replace("%", "%%")
    action.metavar = {"int": "INT", "float": "X", "bool": "BOOL", "choice": "NAME", "str": "TEXT",
                      "layer": "LAYER"}[knob.kind]


def add_method_option(parser: argparse.ArgumentParser, command: str, default: str = DEFAULT_METHOD) -> None:
    """``--method`` and every member's knob flags on ``parser``; ``--help`` shows the chosen member's."""
    parser.add_argument("--method", default=default,
                        help=f"window-attribution method: {default} (default), any of srwidgets.attribution.methods() "
                             "(the built-in members, yours registered with srwidgets.attribution.register, those of "
                             "installed packages: entry-point group srwidgets.methods); its knobs are the flags "
                             f"below. Another method's knobs: python -m srwidgets {command} --method NAME --help")
    flags = _Flags(parser, command, default)
    flags.show([])
    parse = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        flags.show(list(sys.argv[1:] if args is None else args))
        return parse(args, namespace)

    parser.parse_known_args = parse_known_args


def _flag_checks() -> dict:
    """The CLI's own wording for knobs the path methods share (the papers' values quoted), run before the knob's
    own check: ``--steps`` (its ceiling), ``--sigma``, ``--kernel-size`` (odd), ``--seed`` (numpy's range)."""
    from ._common import flag_int, flag_number, flag_seed, flag_steps

    def kernel(value):
        flag_int("--kernel-size", value, 1, hint=" (odd; the paper uses 9)")
        if value % 2 == 0:
            raise InputError(f"--kernel-size must be odd (the blur kernel is centred on each pixel), got {value}; "
                             "the paper uses 9")

    return {"steps": lambda v: flag_steps(v, paper=50),
            "sigma": lambda v: flag_number("--sigma", v, 0.0, " (the blur's sigma_max; the paper uses 1.2)"),
            "kernel_size": kernel, "seed": flag_seed}


def check_method_flags(args) -> type:
    """``--method`` and its knob flags checked before a model loads: an unknown method gets the list of members; a
    knob value its knob's check (``--steps must be ...``); another member's knob is refused naming whose it is.
    Returns the member's class."""
    members = _members()
    if args.method not in members:
        raise InputError(f"--method {args.method!r} is not a window-attribution method; choose one of: "
                         f"{', '.join(members)} (or register your own: srwidgets.attribution.register, or the "
                         "entry-point group srwidgets.methods of an installed package)")
    method_knobs(args)
    return members[args.method]


def method_knobs(args) -> Dict[str, object]:
    """The knobs given on the command line, read and checked by the chosen member's declaration (a wrapper's inner
    member's too), as ``attribute()`` takes them. Knobs not given are left out: the member's defaults apply."""
    members = _members()
    cls = members.get(args.method)
    inner = _inner(cls, [f"--{k[len(_PREFIX):].replace('_', '-')}={v}" for k, v in vars(args).items()
                         if k.startswith(_PREFIX)])
    checks = _flag_checks()
    out = {}
    for dest, text in vars(args).items():
        if not dest.startswith(_PREFIX):
            continue
        name = dest[len(_PREFIX):]
        flag = "--" + name.replace("_", "-")
        knob = _knob(cls, name) if cls is not None else None
        if knob is None and inner is not None:
            knob = _knob(inner[1], name)
        if knob is None:
            owners = [n for n, c in members.items() if _knob(c, name) is not None]
            raise InputError(f"{flag} is a knob of --method {', '.join(owners)}, not of --method {args.method} "
                             f"(`--method {args.method} --help` lists its knobs)")
        if name in checks:  # the CLI's wording first (the ceiling, odd kernels, numpy's seeds)
            try:
                raw = {"int": int, "float": float}.get(knob.kind, str)(text)
            except ValueError:
                raw = None  # not a number: the knob says what it takes
            if raw is not None:
                checks[name](raw)
        try:
            out[name] = knob.parse(text)
        except InputError as e:
            raise InputError(str(e).replace(f"{name} must", f"{flag} must", 1).replace(
                f"unknown {name} ", f"unknown {flag} ", 1)) from None
    return out
