"""User-facing errors.

Every error srwidgets raises for bad input is an :class:`InputError` (a ``ValueError``) whose message says what
was wrong and how to fix it. Widgets catch exactly these and show the message instead of a traceback.
"""


class InputError(ValueError):
    """Bad input from the user: the message names the problem and the fix."""


class KeywordError(InputError, TypeError):
    """An unknown keyword argument (a widget's constructor, say): an :class:`InputError` that is also the
    ``TypeError`` Python raises for an unexpected keyword, so either ``except`` catches it."""


class Cancelled(RuntimeError):
    """Raised inside an engine when its :class:`~srwidgets.progress.CancelToken` is set."""
