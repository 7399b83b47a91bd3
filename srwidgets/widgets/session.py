"""What a widget's session shares with the others, and how its view forwards to it (no ipywidgets here).

A session (:class:`~srwidgets.widgets.lam_session.LAMSession`, :class:`~srwidgets.widgets.ddr_session.DDRSession`,
:class:`~srwidgets.widgets.faig_session.FAIGSession`) holds a widget's state and checks its settings with ``check_<name>(value) -> value``; :class:`Session` gives it
:meth:`Session.set`. A view's ``check_<name>`` is :func:`session_check`: the session's check, then the value set in
the session.
"""
from __future__ import annotations

from typing import Iterable

from ..errors import InputError

__all__ = ["Session", "session_check"]


class Session:
    """Base of the widget sessions: ``SETTINGS`` names the settings, each checked by ``check_<name>``."""

    SETTINGS: Iterable[str] = ()

    def set(self, **settings) -> None:
        """Check and set settings (names of ``SETTINGS``); a bad one raises InputError and sets nothing."""
        names = list(self.SETTINGS)
        unknown = [n for n in settings if n not in names]
        if unknown:
            raise InputError(f"unknown setting {unknown[0]!r}; the settings are: {', '.join(names)}")
        checked = {n: getattr(self, f"check_{n}")(v) for n, v in settings.items()}
        for name, value in checked.items():
            setattr(self, name, value)


def session_check(name: str, session_class: str):
    """A view's ``check_<name>``: ``self.session``'s check, and the checked value set in the session."""
    def check(self, value):
        value = getattr(self.session, f"check_{name}")(value)
        setattr(self.session, name, value)
        return value

    check.__name__ = f"check_{name}"
    check.__doc__ = f"Check ``{name}`` (``{session_class}.check_{name}``) and set it in the session."
    return check
