"""Knobs as data: what a member of the window-attribution family takes, declared once on the member's class.

A member lists its options as :class:`Knob` s (name, kind, default, help, range or choices, the widget's step)::

    class Occlusion(WindowMethod):
        knobs = (Knob("patch", "int", 4, "occluding square, LR px", low=1),
                 Knob("fill", "float", 0.0, "value put in the square", low=0, high=1, step=0.05))

and every surface is generated from that declaration: ``srwidgets.attribute`` checks the values
(:func:`check_knobs`), the CLI offers ``--patch`` / ``--fill`` (``lam``, ``di-table``), the LAM widget builds a
control per knob, ``di_table`` checks and records them. A new knob needs no edit outside the member's file.

A member that declares none gets knobs inferred from its ``attribute``'s keyword parameters whose defaults are
``int`` / ``float`` / ``bool`` / ``str`` (:func:`knobs_of`), so a plugin gets CLI flags for free.

Arguments of ``attribute`` that are not knobs: ``objective``, ``callback``, ``cancel`` and ``hr`` (the HR image,
for members whose capability ``needs_hr`` is set) — :data:`NOT_KNOBS`. Other keyword parameters a member names
(a tensor such as CEM's ``patches``) are accepted and passed through unchecked.

Example:
    >>> k = Knob("steps", "int", 50, "path steps", low=1, high=1000)
    >>> k.check(20), k.parse("30")
    (20, 30)
    >>> Knob("fill", "float", 0.0, low=0, high=1).check(1)
    1.0
"""
from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np

from ..engine.inputs import check_flag, check_int, check_number
from ..errors import InputError

__all__ = ["Knob", "KINDS", "NOT_KNOBS", "knobs_of", "check_knobs", "accepted_arguments", "window_grid"]

KINDS = ("int", "float", "bool", "choice", "str", "layer")
"""Knob kinds: ``layer`` is a model layer given by index (int, negative from the end) or by name (str)."""

NOT_KNOBS = ("objective", "callback", "cancel", "hr")
"""Arguments of ``attribute`` that are not knobs (never a CLI flag or a widget control)."""

_TRUE, _FALSE = ("1", "true", "yes", "on", "y", "t"), ("0", "false", "no", "off", "n", "f")


@dataclass(frozen=True)
class Knob:
    """One option of a member's ``attribute``.

    Attributes:
        name: ``attribute()``'s keyword; the CLI flag is ``--<name with _ as ->``; the widget control's label.
        kind: one of :data:`KINDS`.
        default: the value used when the option is not given (``None``: the member chooses, e.g. a layer).
        help: one line for ``--help`` and the control's tooltip.
        low, high: inclusive bounds for ``int`` / ``float`` (``None``: unbounded).
        choices: for ``choice``: the allowed strings, or a callable returning them (e.g. the member names).
        step: the widget slider's step (``None``: 1 for int, the range / 100 for float).
        other: non-empty when the member also accepts values of another type and checks them itself (e.g. IG's
            ``baseline`` takes a tensor too): those pass :meth:`check` unchanged; the text says what they are.
    """

    name: str
    kind: str
    default: Any
    help: str = ""
    low: Optional[float] = None
    high: Optional[float] = None
    choices: Union[Tuple[Any, ...], Callable[[], Tuple[Any, ...]]] = ()
    step: Optional[float] = None
    other: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise InputError(f"Knob name must be a Python identifier (attribute()'s keyword), got {self.name!r}")
        if self.kind not in KINDS:
            raise InputError(f"Knob {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.name in NOT_KNOBS:
            raise InputError(f"Knob {self.name!r}: {', '.join(NOT_KNOBS)} are arguments of every member, not knobs")
        if self.kind == "choice" and not (callable(self.choices) or len(self.choices)):
            raise InputError(f"Knob {self.name!r} of kind 'choice' needs choices (a tuple, or a callable returning one)")

    # -- what it takes -----------------------------------------------------------------------------------------------
    def options(self) -> Tuple[Any, ...]:
        """The choices (a callable's result taken now)."""
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def takes(self) -> str:
        """What the knob takes, in words (for error messages and ``--help``)."""
        if self.kind in ("int", "float"):
            noun = "an integer" if self.kind == "int" else "a finite number"
            lo = "" if self.low is None else f" >= {self.low:g}"
            hi = "" if self.high is None else f"{' and' if lo else ''} <= {self.high:g}"
            text = noun + lo + hi
        elif self.kind == "bool":
            text = "True or False"
        elif self.kind == "choice":
            text = "one of: " + ", ".join(map(str, self.options()))
        elif self.kind == "layer":
            text = "a layer: its index (an integer, negative from the end) or its name (a string)"
        else:
            text = "a string"
        return text + (f", or {self.other}" if self.other else "")

    def _fail(self, value):
        hint = f" ({self.help})" if self.help else ""
        raise InputError(f"{self.name} must be {self.takes()}{hint}, got {value!r}")

    def check(self, value) -> Any:
        """The value checked and normalised (numpy scalars to Python, an int for a float knob to float); an
        :class:`~srwidgets.errors.InputError` naming the knob and what it takes otherwise."""
        if value is None and self.default is None:
            return None
        k = self.kind
        if k == "int":
            if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
                self._fail(value)
            value = check_int(self.name, value, None if self.low is None else int(math.ceil(self.low)))
        elif k == "float":
            if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
                self._fail(value)
            value = check_number(self.name, value, self.low)
        elif k == "bool":
            try:
                return check_flag(self.name, value)
            except InputError:
                self._fail(value)
        elif k == "choice":
            if isinstance(value, str) and value in self.options():
                return value
            if self.other and not isinstance(value, str):
                return value
            raise InputError(f"unknown {self.name} {value!r}; choose one of: {', '.join(map(str, self.options()))}"
                             + (f" (or {self.other})" if self.other else ""))
        elif k == "layer":
            if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
                return int(value)
            if not (isinstance(value, str) and value.strip()):
                self._fail(value)
            return value
        else:  # str
            if not isinstance(value, str):
                if self.other:
                    return value
                self._fail(value)
            return value
        if self.low is not None and value < self.low:
            self._fail(value)
        if self.high is not None and value > self.high:
            if k == "float":
                self._fail(value)
            hint = f" ({self.help})" if self.help else ""
            raise InputError(f"{self.name}={value!r} is above the ceiling of {self.high:,g}{hint}; use at most "
                             f"{self.high:,g}")
        return value

    def parse(self, text: str) -> Any:
        """Command-line text -> the checked value (``"none"`` -> ``None`` where the default is ``None``)."""
        if not isinstance(text, str):
            return self.check(text)
        t = text.strip()
        if self.default is None and t.lower() == "none":
            return None
        k = self.kind
        try:
            if k == "int":
                return self.check(int(t))
            if k == "float":
                return self.check(float(t))
        except ValueError:
            self._fail(text)
        if k == "bool":
            if t.lower() in _TRUE or t.lower() in _FALSE:
                return t.lower() in _TRUE
            self._fail(text)
        if k == "layer":
            return self.check(int(t) if t.lstrip("-").isdigit() else t)
        return self.check(t)


# -- a member's knobs -------------------------------------------------------------------------------------------------
_INFERRED = ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"))


def _signature(cls):
    params = list(inspect.signature(cls.attribute).parameters.values())[3:]  # self, image, window
    named = [p for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def knobs_of(cls) -> Tuple[Knob, ...]:
    """A member's declared knobs (its class attribute ``knobs``, a tuple of :class:`Knob`), or — for a member that
    declares none — inferred from ``attribute()``'s keyword parameters with ``int`` / ``float`` / ``bool`` / ``str``
    defaults (:data:`NOT_KNOBS` left out), so a plugin gets CLI flags and widget controls for free."""
    declared = getattr(cls, "knobs", None)
    if isinstance(declared, (tuple, list)):
        bad = [k for k in declared if not isinstance(k, Knob)]
        if bad:
            raise InputError(f"{cls.__name__}.knobs must be a tuple of srwidgets.attribution.Knob, got {bad[0]!r}")
        return tuple(declared)
    out = []
    for p in _signature(cls)[0]:
        if p.name in NOT_KNOBS or p.default is p.empty:
            continue
        kind = next((name for t, name in _INFERRED if isinstance(p.default, t)), None)
        if kind is not None:
            out.append(Knob(p.name, kind, p.default))
    return tuple(out)


def accepted_arguments(cls) -> Optional[set]:
    """Every keyword ``cls.attribute`` takes besides the image and window: its knobs, the non-knob arguments it
    names (``objective``, ``callback``, ``cancel``, ``hr`` where ``needs_hr``, tensors such as CEM's ``patches``);
    ``None`` when any is taken (a member with ``open_knobs``, e.g. SmoothGrad passing its inner member's, or an
    undeclared one whose ``attribute`` takes ``**kwargs``): those are checked when it runs."""
    named, var = _signature(cls)
    declared = isinstance(getattr(cls, "knobs", None), (tuple, list))
    if getattr(cls, "open_knobs", False) or (var and not declared):
        return None
    names = {k.name for k in knobs_of(cls)} | {p.name for p in named}
    if var:  # a declared member passing **knobs on (LAM): the family's arguments
        names |= {"objective", "callback", "cancel"} | ({"hr"} if getattr(cls, "needs_hr", False) else set())
    return names


def check_knobs(cls, values: dict, what: Optional[str] = None) -> Dict[str, Any]:
    """``values`` for ``cls.attribute`` checked: names it does not take refused (listing those it does, a typo must
    not be silently ignored), each knob's value checked and normalised by its :class:`Knob`; other arguments
    (``objective``, ``callback``, ``hr``, ...) passed through. Returns the checked dict."""
    what = what or f"method={getattr(cls, 'name', '') or cls.__name__!r}"
    knobs = {k.name: k for k in knobs_of(cls)}
    accepted = accepted_arguments(cls)
    if accepted is not None:
        unknown = sorted(set(values) - accepted)
        if unknown:
            options = sorted(set(knobs) | (accepted & {"objective", "hr"}))
            raise InputError(f"{what} does not take {', '.join(map(str, unknown))}; its options are: "
                             f"{', '.join(options) or 'none'} (engine options: scale, device, chunk_size, "
                             "memory_budget, crop, split_tail)")
    return {name: knobs[name].check(v) if name in knobs else v for name, v in values.items()}


def window_grid(cls, knobs: dict, scales=()) -> int:
    """The grid (SR px) a ``block_grid`` member's windows lie on: its ``block`` knob when given, else its declared
    ``block_grid``; 0 for a member that takes any window. A multiple of every scale (blocks of whole LR pixels)."""
    grid = getattr(cls, "block_grid", 0) or 0
    if not grid:
        return 0
    grid = check_int("block", knobs.get("block", grid), 1, " (SR pixels; the authors use 8)")
    for s in sorted(set(scales)):
        if grid % s:
            raise InputError(f"block={grid} SR pixels is not a multiple of the scale {s}: a block must cover whole LR "
                             f"pixels; use block={max(s, grid // s * s)} or {(grid // s + 1) * s}")
    return grid
