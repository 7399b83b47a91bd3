"""What a widget's session shares with the others, and how its view forwards to it (no ipywidgets here).

A session (:class:`~srwidgets.widgets.lam_session.LAMSession`, :class:`~srwidgets.widgets.ddr_session.DDRSession`,
:class:`~srwidgets.widgets.faig_session.FAIGSession`) holds a widget's state and checks its settings with ``check_<name>(value) -> value``; :class:`Session` gives it
:meth:`Session.set`. A view's ``check_<name>`` is :func:`session_check`: the session's check, then the value set in
the session.
"""
from __future__ import annotations

import os
from typing import Iterable, List

from .. import data
from ..engine import check_seed
from ..errors import InputError

__all__ = ["Session", "session_check", "source_files", "check_widget_seed", "SEED_MAX"]

SEED_MAX = 2 ** 31 - 1
"""The largest seed the DDR and FAIG widgets take: t-SNE (scikit-learn) and numpy's rankings take seeds in
``[0, 2**32 - 1]``, and the degradations seed image ``j`` with ``seed + j``."""


def check_widget_seed(seed) -> int:
    """The ``seed`` argument of the DDR and FAIG widgets: an integer in ``[0, SEED_MAX]``, else an InputError
    naming it (``srwidgets.engine.check_seed`` takes torch's whole range, which t-SNE and numpy refuse later, in
    the middle of a job).

        >>> check_widget_seed(7)
        7
    """
    seed = check_seed(seed)
    if not 0 <= seed <= SEED_MAX:
        raise InputError(f"seed must be an integer in [0, {SEED_MAX}] (t-SNE and numpy take no negative or larger "
                         f"seeds), got {seed}; e.g. seed=0")
    return seed


def source_files(*values) -> List[str]:
    """The files a widget's inputs were read from, for :func:`srwidgets.engine.check_output`'s ``inputs``: paths
    (``str`` / ``os.PathLike``, folders included), a bundled image's file (``"astronaut"``), the file of an image
    opened with PIL (its ``filename``), the same inside lists and tuples; anything else (tensors, arrays) adds
    nothing.

        >>> import PIL.Image, tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "in.png"); PIL.Image.new("RGB", (4, 4)).save(f)
        >>> source_files([PIL.Image.open(f), "astronaut", None]) == [f, "astronaut", data.image_path("astronaut")]
        True
    """
    out: List[str] = []
    for value in values:
        if isinstance(value, (list, tuple)):
            out.extend(source_files(*value))
        elif isinstance(value, (str, bytes, os.PathLike)):
            path = os.fsdecode(os.fspath(value))
            out.append(path)
            if not os.path.exists(path) and path in data.images():  # a bundled name: its file is read
                out.append(data.image_path(path))
        elif isinstance(getattr(value, "filename", None), str) and value.filename:  # a PIL image read from a file
            out.append(value.filename)
    return out


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
