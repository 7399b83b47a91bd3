"""The base of the method widgets: a :class:`~srwidgets.widgets.runner.Runner`, the status row (progress bar,
Cancel, Run, status line), the error area, checked keywords (below) and, for the widgets that use them, a
figure-export row (:meth:`EngineWidget.export_row`) and a result cache (:meth:`EngineWidget.cache_put`, the
engines' :class:`~srwidgets.engine.cache.LRUCache`), both made on first use.

A method widget subclasses :class:`EngineWidget`, builds its views (:mod:`srwidgets.widgets.canvas`) and controls,
and starts engine calls with :meth:`EngineWidget.start` (``work(job)`` runs on the worker thread). No numerics live
here: the engines compute, :mod:`srwidgets.viz` turns results into colours and figures.

**Checked keywords.** One convention for every widget's settings: a traitlet declared with a ``Checked*`` type
(:class:`CheckedUnicode`, :class:`CheckedInt`, :class:`CheckedFloat`, :class:`CheckedBool`,
:class:`CheckedAny`) is validated by the
widget's method ``check_<name>(value) -> value`` (which raises :class:`~srwidgets.errors.InputError` naming the
keyword and the allowed values). While the widget is being built (``_ready`` false) a bad value raises that
``InputError`` — a constructor refuses bad arguments; once ready, the message goes to ``error`` and the traitlet
keeps its value (a widget in a notebook never raises from a control). Wrong types (``layer=3``) reach the check
too, instead of a traitlets ``TraitError``. :meth:`EngineWidget.set_keywords` applies a constructor's
``**traits`` (an unknown name is a :class:`KeywordError` listing the accepted ones: an ``InputError`` and a
``TypeError``, the same in every widget).

    >>> from srwidgets.engine import check_choice
    >>> class Demo(EngineWidget):
    ...     keywords = ("mode",)
    ...     mode = CheckedUnicode("a")
    ...     def check_mode(self, value):
    ...         return check_choice("mode", value, ["a", "b"])
    >>> w = Demo()
    >>> w.set_keywords({"mode": "c"})
    Traceback (most recent call last):
    ...
    srwidgets.errors.InputError: unknown mode 'c'; choose one of: a, b
    >>> w._ready = True
    >>> w.mode = 3
    >>> w.mode, w.error
    ('a', 'unknown mode 3; choose one of: a, b')
"""
from __future__ import annotations

import html
import os
import tempfile
import traceback
from typing import Any, Callable, Dict, Optional, Tuple

import ipywidgets as widgets
from traitlets import Any as AnyTrait, Bool, Float, Int, TraitError, Unicode, observe

from ..engine.cache import LRUCache
from ..errors import InputError, KeywordError
from .canvas import CSS_TEXT
from .runner import Job, Runner
from ..engine.outputs import free_name

__all__ = ["EngineWidget", "Checked", "CheckedUnicode", "CheckedInt", "CheckedFloat", "CheckedBool", "CheckedAny",
           "KeywordError", "unknown_keyword", "FIGURE_EXTENSIONS"]


FIGURE_EXTENSIONS = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
"""What a widget's ``save_figure`` writes (matplotlib picks the format from the extension)."""


def unknown_keyword(widget: str, name: str, accepted) -> KeywordError:
    """The one message of every widget for an unknown keyword ``name`` (``accepted``: the names it takes)."""
    return KeywordError(f"{widget} got an unexpected keyword argument {name!r}; it accepts {', '.join(accepted)}")


class Checked:
    """Mixin for a traitlet type: values are validated by the owning widget's ``check_<name>(value)`` (see the
    module docstring) when it has one; otherwise the trait type's own validation applies."""

    def validate(self, obj, value):
        check = getattr(obj, f"check_{self.name}", None) if isinstance(obj, EngineWidget) else None
        # the default is validated on first read, before anything is built: it is the widget's own, not checked
        if check is None or self.name not in obj._trait_values:
            parent = getattr(super(), "validate", None)  # traitlets' Any has no validate of its own
            return value if parent is None else parent(obj, value)
        return obj.validated(self.name, value, check)


class CheckedUnicode(Checked, Unicode):
    """A ``Unicode`` traitlet checked by the widget's ``check_<name>``."""


class CheckedInt(Checked, Int):
    """An ``Int`` traitlet checked by the widget's ``check_<name>`` (numpy integers, strings... reach the check)."""


class CheckedFloat(Checked, Float):
    """A ``Float`` traitlet checked by the widget's ``check_<name>``."""


class CheckedBool(Checked, Bool):
    """A ``Bool`` traitlet checked by the widget's ``check_<name>`` (``"yes"``, ``1``... reach the check)."""


class CheckedAny(Checked, AnyTrait):
    """An ``Any`` traitlet checked by the widget's ``check_<name>`` (``None`` too: traitlets' ``Any`` would let it
    through unchecked)."""

    allow_none = False


class EngineWidget(widgets.VBox):
    """Base of the method widgets: worker runner, progress bar, Cancel / Run buttons, status line, error area;
    opt-in, made on first use: a figure-export row (:meth:`export_row`) and a result cache (:meth:`cache_put`).
    Subclasses build their views and controls, set ``children`` (using :meth:`status_row`, ``error_html`` and,
    with a figure, :meth:`export_row`), implement :meth:`rerun` (and :meth:`save_figure` with an export row),
    declare their settings as ``Checked*`` traitlets with ``check_<name>`` methods, apply a constructor's
    ``**traits`` with :meth:`set_keywords`, and set ``_ready = True`` once built (:attr:`ready`).

    Traitlets: ``busy`` (a job is running), ``progress`` (``[0, 1]``), ``status`` (one line), ``error`` (the last
    error's message, ``""`` when none).
    """

    busy = Bool(False, help="an engine job is running").tag(sync=False)
    progress = Float(0.0, help="progress of the running job in [0, 1]").tag(sync=False)
    status = Unicode("", help="one line about what the widget is doing").tag(sync=False)
    error = Unicode("", help="last error message ('' when none)").tag(sync=False)

    default_figure_path = "figure.png"
    cache_size = 64
    keywords: Tuple[str, ...] = ()
    """The traitlets a constructor's ``**traits`` may set (:meth:`set_keywords`); empty: any traitlet."""

    def __repr__(self) -> str:
        # Short and stable (notebook outputs are compared by nbval; the default lists every child widget's state).
        return f"{type(self).__name__}({self._describe()})"

    def _describe(self) -> str:
        """What ``repr`` shows between the parentheses; subclasses name their models and inputs."""
        return ""

    def __init__(self, throttle: float = 0.25, **kwargs):
        super().__init__(**kwargs)
        self._ready = False  # set by the subclass once built: from then on bad values are reported, not raised
        for name, trait in self.traits().items():
            if isinstance(trait, Checked):
                getattr(self, name)  # store the defaults now (unchecked), so that every later value is checked
        self.last_traceback: Optional[str] = None
        self._cache: Optional[LRUCache] = None  # finished results by the subclass's key; made on first use
        self._export: Optional[Tuple[widgets.Text, widgets.Button]] = None  # the export row's, made when asked
        self._runner = Runner(self._set_busy, self._set_progress, self._set_error, self._cancelled, throttle=throttle)
        self.progress_bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="",
                                                  layout=widgets.Layout(width="220px"))
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True,
                                            layout=widgets.Layout(width="90px"), tooltip="stop the running job")
        self.run_button = widgets.Button(description="Run", icon="play", layout=widgets.Layout(width="80px"),
                                         tooltip="attribute the current selection again")
        self.status_label = widgets.Label("")
        self.error_html = widgets.HTML("")
        self.error_html.add_class("srw-error")
        self.cancel_button.on_click(lambda _: self.cancel())
        self.run_button.on_click(lambda _: self.rerun())
        self.add_class("srw-widget")

    # -- opt-in pieces: built on first use, so a widget that has no figure or keeps no results pays nothing
    @property
    def ready(self) -> bool:
        """True once the subclass has finished building (it sets ``_ready``): bad values are then reported in
        ``error`` instead of raised, and setting a traitlet may start a job."""
        return bool(getattr(self, "_ready", False))

    @property
    def cache(self) -> LRUCache:
        """Finished results (``cache_size`` of them, least recently used dropped), made on first use."""
        if self._cache is None:
            self._cache = LRUCache(self.cache_size)
        return self._cache

    @cache.setter
    def cache(self, value: LRUCache) -> None:
        self._cache = value

    def _export_widgets(self) -> Tuple[widgets.Text, widgets.Button]:
        if self._export is None:
            path = widgets.Text(value=self.default_figure_path, description="Figure:",
                                layout=widgets.Layout(width="320px"))
            button = widgets.Button(description="Save figure", icon="download",
                                    tooltip="write a publication-ready PNG (matplotlib)")
            button.on_click(self._export_clicked)
            self._export = (path, button)
        return self._export

    @property
    def export_path(self) -> widgets.Text:
        """The figure-export row's path box (made with the row, :meth:`export_row`)."""
        return self._export_widgets()[0]

    @property
    def export_button(self) -> widgets.Button:
        """The figure-export row's button: runs :meth:`save_figure` on ``export_path``."""
        return self._export_widgets()[1]

    # -- layout pieces for subclasses
    def status_row(self) -> widgets.Widget:
        return widgets.HBox([self.progress_bar, self.cancel_button, self.run_button, self.status_label],
                            layout=widgets.Layout(align_items="center"))

    def export_row(self) -> widgets.Widget:
        """The figure export: a path box and a "Save figure" button (:meth:`save_figure`); only widgets that
        call this have one."""
        return widgets.HBox(list(self._export_widgets()))

    def save_row(self, default_path: str, description: str, button: str, tooltip: str,
                 save: Callable[[str], Any]) -> widgets.HBox:
        """A path box and a button that runs ``save(path)`` (e.g. a table or scores next to the figure); errors are
        shown in the widget like the figure export's, and the default name never replaces a file (:meth:`save_to`).
        ``row.children`` is ``(Text, Button)``."""
        path = widgets.Text(value=default_path, description=description, layout=widgets.Layout(width="320px"))
        go = widgets.Button(description=button, icon="download", tooltip=tooltip)
        go.on_click(lambda _: self.save_to(path.value, default_path, save))
        return widgets.HBox([path, go])

    def css(self) -> widgets.Widget:
        """An invisible HTML widget carrying the stylesheet (crisp canvas pixels, red errors)."""
        return widgets.HTML(CSS_TEXT, layout=widgets.Layout(display="none"))

    # -- public API
    def cancel(self) -> bool:
        """Stop the running job (it ends within one engine chunk; the last finished result is kept)."""
        return self._runner.cancel(asked=lambda: setattr(self, "status", "cancelling..."))

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the running job has ended (also one that supersedes it meanwhile). Returns False on
        timeout. Useful in scripts and tests: ``widget.window = (8, 8, 16); widget.wait(); widget.result``."""
        return self._runner.wait(timeout)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran: the worker is stopped and the widget no longer computes."""
        runner = getattr(self, "_runner", None)
        return runner is None or runner.closed

    def close(self) -> None:
        """Cancel the running job, stop the worker and close the widget's views (ipywidgets ``close``)."""
        runner = getattr(self, "_runner", None)  # None: a constructor failed before the base was built
        if runner is not None:
            runner.close()
            self.status = "closed"
        super().close()

    def rerun(self) -> None:  # pragma: no cover - subclasses
        raise NotImplementedError

    def save_figure(self, path: str):  # pragma: no cover - subclasses
        raise NotImplementedError

    def snapshot(self, timeout: Optional[float] = 600.0):
        """The widget's figure (:meth:`save_figure`) as a PNG picture for a notebook's output: an
        ``IPython.display.Image``. A page without a kernel (the docs site, GitHub, nbviewer) cannot draw the widget
        itself, so the notebooks put ``w.snapshot()`` after a widget's cell to keep a picture of what it shows.
        Waits for the running job first (at most ``timeout`` seconds, then raises ``TimeoutError``); raises
        :class:`~srwidgets.errors.InputError` while there is nothing to draw (e.g. no window selected yet)."""
        from IPython.display import Image

        if not self.wait(timeout):
            raise TimeoutError(f"the widget's job did not end within {timeout} s; call snapshot() again later")
        with tempfile.TemporaryDirectory(prefix="srwidgets-snapshot-") as folder:
            path = os.path.join(folder, "snapshot.png")
            self.save_figure(path)
            with open(path, "rb") as f:
                return Image(data=f.read(), format="png")

    # -- for subclasses
    def start(self, work: Callable[[Job], None], label: str = "") -> Optional[Job]:
        """Run ``work(job)`` on the worker thread, superseding the running job; clears the error. On a closed
        widget nothing starts (``None``)."""
        if self.closed:
            return None
        self.error = ""
        self.last_traceback = None
        self.progress = 0.0
        if label:
            self.status = label
        return self._runner.submit(work, label=label)

    def supersede(self) -> None:
        """Drop the running job's output (when showing something that needs no job, e.g. a cached result)."""
        self._runner.supersede()

    def cache_put(self, key, value) -> None:
        """Keep a finished result (any thread; least recently used beyond ``cache_size`` are dropped)."""
        self.cache.put(key, value)

    def cache_get(self, key, default=None):
        """A kept result or ``default`` (any thread)."""
        return self.cache.get(key, default)

    def show_error(self, message: str, tb: Optional[str] = None) -> None:
        self._set_error(message, tb)

    # -- checked keywords (see the module docstring)
    def validated(self, name: str, value, check: Callable[[Any], Any]):
        """``check(value)``; on :class:`InputError`: raise it while the widget is being built, else show the message
        in ``error`` and return the traitlet's current value (nothing changes, nothing starts). A later valid value
        of the same traitlet (the kept one included) clears that message."""
        try:
            value = check(value)
        except InputError as exc:
            if not self.ready:
                raise
            self.refuse(name, str(exc))
            return getattr(self, name)
        self.accept(name)
        return value

    def accept(self, name: str) -> None:
        """A valid value of setting ``name`` arrived: the message of its last refusal, still shown, is stale and
        cleared (another setting's, or a job's error, stays)."""
        refused = getattr(self, "_refusal", None)
        if refused is not None and refused[0] == name:
            self._refusal = None
            if self.error == refused[1]:
                self.error = ""

    def set_keywords(self, keywords: Dict[str, Any]) -> None:
        """Set a constructor's ``**traits``, in order. An unknown name raises ``TypeError`` listing the accepted
        ones (:attr:`keywords`; a :class:`KeywordError`, both an ``InputError`` and a ``TypeError``); a bad value raises :class:`InputError` naming the keyword (its ``check_<name>``'s
        message, or the traitlet's expected type)."""
        accepted = list(self.keywords) or [n for n in self.trait_names() if not n.startswith("_")]
        for name, value in keywords.items():
            if name not in accepted or not self.has_trait(name):
                raise unknown_keyword(type(self).__name__, name, accepted)
            try:
                setattr(self, name, value)
            except TraitError:
                info = self.traits()[name].info()
                raise InputError(f"{name} must be {info}, got {value!r}") from None

    # -- runner callbacks (worker thread, current job only)
    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        if not busy and self.status == "cancelling...":  # the job ended before the cancel reached it
            self.status = "done: the job ended before the cancel reached it"

    def _set_progress(self, done: int, total: int, label: str) -> None:
        self.progress = done / total if total else 1.0
        self.status = f"{label} {done}/{total}".strip()

    def _set_error(self, message: str, tb: Optional[str]) -> None:
        self.last_traceback = tb
        self.error = message or "unknown error"
        self.status = "failed"

    def _cancelled(self, job: Job) -> None:
        where = f" after {job.done}/{job.total}" if job.total else ""
        self.status = f"cancelled{where}: press Run to start again"

    def _export_clicked(self, _=None) -> None:
        self.save_to(self.export_path.value, self.default_figure_path, self.save_figure)

    def save_to(self, text: str, default: str, save: Callable[[str], Any]) -> Optional[str]:
        """A save button pressed with ``text`` in its path box: ``save(path)``, the path typed (``default`` when
        empty). The default name never replaces a file that is already there: the first free ``stem-1.ext``,
        ``stem-2.ext``, ... is written instead and the status says so (a name typed is the user's to overwrite).
        Errors are shown in ``error`` (the widget keeps working); a save that works clears it. Returns the path
        written, ``None`` when refused."""
        path, note = str(text).strip() or default, ""
        if path == default:
            free = free_name(path)
            if free != path:
                note = f" ({path} exists: a default name never replaces a file; type a name to write there)"
                path = free
        try:
            save(path)
        except InputError as exc:
            self.show_error(str(exc))
            return None
        except Exception as exc:  # a button's handler never raises into the kernel
            self.show_error(f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return None
        self.error = ""
        self.status = f"saved {path}{note}"
        return path

    def refuse(self, name: str, message: str) -> None:
        """Show ``message`` in ``error`` as the refusal of a value of setting ``name`` (a control's value that the
        traitlet never took): the next valid value of ``name`` clears it, as it clears a refused traitlet's."""
        self.error = message
        self._refusal = (name, message)

    # -- traitlet -> view
    @observe("busy")
    def _busy_changed(self, change) -> None:
        self.cancel_button.disabled = not change["new"]

    @observe("progress")
    def _progress_changed(self, change) -> None:
        self.progress_bar.value = float(change["new"])

    @observe("status")
    def _status_changed(self, change) -> None:
        self.status_label.value = change["new"]

    @observe("error")
    def _error_changed(self, change) -> None:
        msg = change["new"]
        self.error_html.value = f"<b>Error:</b> {html.escape(msg)}" if msg else ""
