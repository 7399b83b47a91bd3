"""The LAM widget's jobs on its worker (:mod:`srwidgets.widgets.runner`): the window job (every panel's
attribution, cached ones shown at once, the methods that need the HR image — CEM — told so instead), the DI atlas
before it (:func:`srwidgets.batch.di_atlas`), the ERF of the window in the erf view, the SR preview and the Trust
report (:func:`srwidgets.trust.report`).

The session (``LAMSession`` of :mod:`srwidgets.widgets.lam_session`) computes and caches: its ``plan``,
``panels``, ``iter_erf``, ``atlas``, ``preview`` and ``trust``. :class:`LAMJobs` is a mixin of
:class:`~srwidgets.widgets.lam.LAMWidget`: it runs them with the base's ``start`` and hands every result to the
widget's display steps (``_show_panel``, ``_show_final``, ``_show_erf``, ``_show_atlas``, ``_show_trust``,
``_paint_partial``) through ``job.deliver``.
"""
from __future__ import annotations

import threading
from typing import Callable, Optional

from .lam_session import WindowPlan

__all__ = ["LAMJobs", "WindowPlan"]


class LAMJobs:
    """The LAM widget's worker jobs (a mixin)."""

    _run_lock: threading.RLock  # made by the widget: a window set and the job it starts, as one step (any thread)

    # ------------------------------------------------------------------------------------------------ erf, atlas
    def _erf_todo(self, window: tuple) -> list:
        """In the erf view: the models whose ERF of ``window`` is not cached (the cached ones are put in
        ``erf_results``); else ``[]``."""
        if self.view != "erf" or not window:
            return []
        cached = self.session.cached_erf(window)
        self.erf_results.update(cached)
        return [n for n in self.names if n not in cached]

    def _erf_work(self, window: tuple, todo: list):
        """``work(job)`` computing the ERF (the family's ``"erf"``) of ``window`` for the models ``todo``
        (``None`` when none)."""
        if not todo:
            return None

        def work(job):
            for name, res in self.session.iter_erf(window, todo, cancel=job.token):
                job.deliver(self._show_erf, name, window, res)

        return work

    def _atlas_work(self):
        """``None`` when the atlas is off or cached (then shown now); else ``work(job)`` computing and showing it
        with one engine call, :func:`srwidgets.batch.di_atlas`."""
        if not self.atlas:
            return None
        settings = self.atlas_settings()
        cached = self.session.cached_atlas(settings)
        if cached is not None:
            self._show_atlas(cached)
            return None
        self._hide_atlas()

        def work(job):
            if not self.window_panel.sr_shown:  # the preview was superseded: the SR image under the atlas first
                job.deliver(self.window_panel.show_sr, self.session.preview())
            atlas = self.session.atlas(callback=lambda p: job.report(p.done, p.total), cancel=job.token,
                                       settings=settings)
            job.atlas_done = True
            job.deliver(self._show_atlas, atlas)

        return work

    def _start(self, work, label: str, atlas_work):
        """Start ``work`` (may be ``None``), after the atlas when ``atlas_work`` is given; returns the job."""
        if atlas_work is None:
            return self.start(work, label=label)

        def both(job):
            atlas_work(job)
            if work is not None:
                work(job)

        self._atlas_job = self.start(both, label="DI atlas" + (f", then {label}" if work is not None else ""))
        return self._atlas_job

    # ------------------------------------------------------------------------------------------------ the window
    def _run(self) -> None:
        with self._run_lock:
            self._run_locked()

    def _run_locked(self) -> None:
        if self.closed:
            return
        atlas_work = self._atlas_work()
        if not self.window:
            self._run_without_window(atlas_work)
            return
        window = tuple(self.window)
        plan = self._plan(window)
        erf_work = self._erf_work(window, self._erf_todo(window))
        for key in plan.missing_hr:
            self.panels[key].say(f"{key[1]} needs the HR image: pass hr= to LAMWidget")
        if not plan.todo:
            self._show_cached(plan.cached, atlas_work, erf_work)
            return
        if self.busy:
            self.supersede()  # first, so the old job cannot paint over the cleared panels
        for key in plan.todo:
            self.panels[key].clear()
        t, l, h, w = window
        what = "LAM" if tuple(self.methods) == ("lam",) else ", ".join(self.methods)
        self._window_job = self._start(self._window_work(window, plan, erf_work), f"{what} of ({t}, {l}, {h}x{w})",
                                       atlas_work)

    def _run_without_window(self, atlas_work) -> None:
        job = self._window_job
        if job is not None and job.current and not job.finished.is_set():
            self.supersede()  # the window was cleared: its attribution must not land afterwards
        if atlas_work is not None:
            self._start(None, "", atlas_work)

    def _plan(self, window: tuple) -> WindowPlan:
        methods = tuple(self.methods)
        return self.session.plan(window, methods, {m: self.method_knobs(m) for m in methods})

    def _show_cached(self, cached: dict, atlas_work, erf_work) -> None:
        """Every panel is cached (or needs the HR image): shown now; the atlas and the ERF may still run."""
        self.supersede()
        self.error = ""
        for key, res in cached.items():
            self._show_panel(key, res)
        self._show_final(cached, cached=True)
        if atlas_work is not None or erf_work is not None:
            self._start(erf_work, "ERF of the window", atlas_work)

    def _window_work(self, window: tuple, plan: WindowPlan, erf_work: Optional[Callable]):
        """``work(job)``: the cached panels shown, the others attributed in order (partial maps painted as they
        refine), the final line, then the ERF; each display step lands only while ``window`` is the one shown."""

        def shown(fn):
            return lambda *args: fn(*args) if tuple(self.window) == window else None

        def work(job):
            results = dict(plan.cached)
            for key, res in plan.cached.items():
                job.deliver(shown(self._show_panel), key, res)
            def callback(p):
                partial = None if p.partial is None else (lambda: self._paint_partial(p.info["key"], p.partial))
                job.report(p.done, p.total, partial)

            for key, res in self.session.panels(window, plan, callback=callback, cancel=job.token):
                results[key] = res
                job.deliver(shown(self._show_panel), key, res)
            job.deliver(shown(self._show_final), results)
            if erf_work is not None:
                erf_work(job)

        return work

    def _start_preview(self) -> None:
        """The SR output for the SR canvas: the first model's runtime forward pass (its device, its guard, its
        cache), on the worker; an attribution supersedes it, and its result carries the SR output too."""
        def work(job):
            job.deliver(self.window_panel.show_sr, self.session.preview())
            job.deliver(setattr, self, "status", "select a window on the SR output")

        self.start(work, label="computing the SR output")

    # ------------------------------------------------------------------------------------------------ trust
    def trust_methods(self) -> list:
        """The methods the Trust panel reports on: those shown, less any that needs the HR image the widget lacks."""
        return self.session.trust_methods(tuple(self.methods))

    def run_trust(self):
        """The Trust button: :func:`srwidgets.trust.report` of the current window for every model (the shown
        methods, their knobs), on the worker; the tables land in ``trust_results`` and the Trust panel. Returns
        the job (``None`` without a window)."""
        if not self.window:
            self.error = "select a window on the SR output first, then press Trust"
            return None
        window, methods = tuple(self.window), self.trust_methods()
        if not methods:
            self.error = "no method to check: the shown methods need the HR image (pass hr= to LAMWidget)"
            return None
        self.trust_panel.clear()

        def work(job):
            tables = self.session.trust(window, methods, callback=lambda p: job.report(p.done, p.total),
                                        cancel=job.token)
            job.deliver(self._show_trust, window, tables)

        t, l, h, w = window
        return self.start(work, label=f"trust of ({t}, {l}, {h}x{w})")
