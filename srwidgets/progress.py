"""Progress reporting and cancellation shared by the LAM, DDR and FAIG engines.

Engines take ``callback`` (called with a :class:`Progress` after each chunk of work) and ``cancel`` (a
:class:`CancelToken`, a ``threading.Event`` or any zero-argument callable returning ``True`` to stop). They check
the token between chunks and raise :class:`~srwidgets.errors.Cancelled`, so a cancel takes effect within one chunk.
A library call that cannot look at a token (scikit-learn's t-SNE, say) runs through :func:`wait_cancellable`, so a
cancel still returns at once.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TypeVar, Union

from .errors import Cancelled, InputError


class CancelToken:
    """A thread-safe flag: ``token.cancel()`` from any thread, engines call ``token.raise_if_cancelled()``."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def __call__(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


CancelLike = Union[CancelToken, threading.Event, Callable[[], bool], None]


def is_cancelled(cancel: CancelLike) -> bool:
    """True when ``cancel`` (token, event, callable or None) asks to stop."""
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    if isinstance(cancel, CancelToken):
        return cancel.cancelled
    return bool(cancel())


def check_cancel(cancel: CancelLike) -> None:
    """Raise :class:`Cancelled` when ``cancel`` asks to stop."""
    if is_cancelled(cancel):
        raise Cancelled("cancelled by the user")


@dataclass
class Progress:
    """One progress report: ``done`` of ``total`` units (integration steps, images, ...) finished.

    ``partial`` carries a method-specific partial result (for LAM the running attribution), or ``None``.
    """

    done: int
    total: int
    stage: str = ""
    partial: Any = None
    info: dict = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressCallback = Optional[Callable[[Progress], None]]


def check_hooks(callback, cancel) -> None:
    """Refuse a ``callback`` that is not callable and a ``cancel`` that is not a token, an event or a callable,
    before any work (a bad hook must not fail after the first chunk, or half-way through a call)."""
    if callback is not None and not callable(callback):
        raise InputError(f"callback must be a function of one Progress (or None), got {type(callback).__name__}")
    if cancel is not None and not (isinstance(cancel, (threading.Event, CancelToken)) or callable(cancel)):
        raise InputError(f"cancel must be a CancelToken, a threading.Event or a function returning True to stop "
                         f"(or None), got {type(cancel).__name__}")


T = TypeVar("T")


def wait_cancellable(fn: Callable[[], T], cancel: CancelLike, poll: float = 0.05,
                     lock: Optional[threading.Lock] = None) -> T:
    """``fn()``, for work that cannot look at a token itself (one library call, e.g. scikit-learn's t-SNE): it runs
    in a helper thread while this one checks ``cancel`` every ``poll`` seconds. Returns ``fn``'s result or raises
    its exception; a cancel raises :class:`~srwidgets.errors.Cancelled` within ``poll`` seconds instead of waiting
    for ``fn``, which then finishes in the background (its result is dropped; it must not change shared state in a
    way the caller would not accept). With ``cancel=None``, ``fn()`` runs in this thread.

    ``lock``: held by the helper thread while ``fn`` runs, so calls sharing it run one at a time: a call waits
    (still cancellable) for one that was cancelled but is still finishing, instead of competing with it for the
    cores. ``fn`` runs in another thread: torch's grad mode, ``inference_mode`` and autocast set by the caller do
    not apply to it.

        >>> wait_cancellable(lambda: 6 * 7, CancelToken())
        42
    """
    if cancel is None:
        if lock is None:
            return fn()
        with lock:
            return fn()
    check_cancel(cancel)
    outcome: dict = {}
    done = threading.Event()

    def work():
        try:
            if lock is None:
                outcome["value"] = fn()
            else:
                with lock:
                    if is_cancelled(cancel):  # cancelled while it waited for the lock: nothing to run
                        raise Cancelled("cancelled by the user")
                    outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread, whatever it is
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="srwidgets-cancellable", daemon=True).start()
    while not done.wait(poll):
        check_cancel(cancel)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
