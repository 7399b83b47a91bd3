"""The LAM widget's jobs, what runs on the worker (:mod:`srwidgets.widgets.runner`): the window job (every panel's
attribution, cached ones shown at once, the methods that need the HR image — CEM — told so instead), the DI atlas
before it (:func:`srwidgets.batch.di_atlas`), the ERF of the window in the erf view, the SR preview and the Trust
report (:func:`srwidgets.trust.report`).

:class:`LAMJobs` is a mixin of :class:`~srwidgets.widgets.lam.LAMWidget`: it starts engine calls with the base's
``start`` and hands every result to the widget's display steps (``_show_panel``, ``_show_final``, ``_show_erf``,
``_show_atlas``, ``_show_trust``, ``_paint_partial``) through ``job.deliver``.
"""
from __future__ import annotations

import threading
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

__all__ = ["LAMJobs", "WindowPlan"]


class WindowPlan(NamedTuple):
    """What a window needs: ``keys`` the panels shown, ``knobs`` per method, ``cache_keys`` per panel, ``cached``
    the finished results at hand, ``missing_hr`` the panels whose method needs the HR image the widget lacks,
    ``todo`` the panels to attribute."""

    keys: List[Tuple[str, str]]
    knobs: Dict[str, dict]
    cache_keys: Dict[Tuple[str, str], tuple]
    cached: dict
    missing_hr: List[Tuple[str, str]]
    todo: List[Tuple[str, str]]


class LAMJobs:
    """The LAM widget's worker jobs (a mixin)."""

    _run_lock: threading.RLock  # made by the widget: a window set and the job it starts, as one step (any thread)

    # ------------------------------------------------------------------------------------------------ erf, atlas
    def _erf_todo(self, window: tuple) -> list:
        """In the erf view: the models whose ERF of ``window`` is not cached (the cached ones are put in
        ``erf_results``); else ``[]``."""
        if self.view != "erf" or not window:
            return []
        todo = []
        for name in self.names:
            cached = self.cache_get(self._erf_key(name, window))
            if cached is None:
                todo.append(name)
            else:
                self.erf_results[name] = cached
        return todo

    def _erf_work(self, window: tuple, todo: list):
        """``work(job)`` computing the ERF (the family's ``"erf"``) of ``window`` for the models ``todo``
        (``None`` when none)."""
        if not todo:
            return None

        def work(job):
            for name in todo:
                res = self._engine(name, "erf").attribute(self.image, window, cancel=job.token)
                self.cache_put(self._erf_key(name, window), res)
                job.deliver(self._show_erf, name, window, res)

        return work

    def _atlas_work(self):
        """``None`` when the atlas is off or cached (then shown now); else ``work(job)`` computing and showing it
        with one engine call, :func:`srwidgets.batch.di_atlas`."""
        if not self.atlas:
            return None
        settings = self.atlas_settings()
        key = self._atlas_key(settings)
        cached = self.cache_get(key)
        if cached is not None:
            self._show_atlas(cached)
            return None
        self._hide_atlas()
        name = self.names[0]
        engine = self.runtimes[name]

        def work(job):
            from ..batch import di_atlas

            if not self.window_panel.sr_shown:  # the preview was superseded: the SR image under the atlas first
                job.deliver(self.window_panel.show_sr, self._preview(engine))
            atlas = di_atlas({name: engine.model}, self.image, callback=lambda p: job.report(p.done, p.total),
                             cancel=job.token, **settings)
            self.cache_put(key, atlas)
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
        keys = self._keys()
        knobs = {m: self.method_knobs(m) for m in self.methods}
        cache_keys = {k: self._key(k[0], k[1], window, knobs[k[1]]) for k in keys}
        cached = {k: self.cache_get(cache_keys[k]) for k in keys}
        cached = {k: r for k, r in cached.items() if r is not None}
        missing_hr = [k for k in keys if self._missing_hr(k[1])]
        todo = [k for k in keys if k not in cached and k not in missing_hr]
        return WindowPlan(keys, knobs, cache_keys, cached, missing_hr, todo)

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
            for i, key in enumerate(plan.todo):
                def callback(p, i=i, key=key):
                    partial = None if p.partial is None else (lambda: self._paint_partial(key, p.partial))
                    job.report(i * p.total + p.done, len(plan.todo) * p.total, partial)

                res = self._engine(*key).attribute(self.image, window, callback=callback, cancel=job.token,
                                                   **plan.knobs[key[1]])
                self.cache_put(plan.cache_keys[key], res)
                results[key] = res
                job.deliver(shown(self._show_panel), key, res)
            job.deliver(shown(self._show_final), results)
            if erf_work is not None:
                erf_work(job)

        return work

    def _start_preview(self) -> None:
        """The SR output for the SR canvas: the first model's runtime forward pass (its device, its guard, its
        cache), on the worker; an attribution supersedes it, and its result carries the SR output too."""
        engine = self.runtimes[self.names[0]]

        def work(job):
            sr = self._preview(engine)
            job.deliver(self.window_panel.show_sr, sr)
            job.deliver(setattr, self, "status", "select a window on the SR output")

        self.start(work, label="computing the SR output")

    def _preview(self, runtime):
        """The SR canvas' image: ``runtime.super_resolve`` of the LR image as ``[3, s·h, s·w]`` float32 on the CPU,
        in [0, 1] (what the LAM engine's preview gave)."""
        return runtime.super_resolve(self.image).clamp(0, 1).float().cpu()

    # ------------------------------------------------------------------------------------------------ trust
    def trust_methods(self) -> list:
        """The methods the Trust panel reports on: those shown, less any that needs the HR image the widget lacks."""
        return [m for m in self.methods if not self._missing_hr(m)]

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
        knobs = {m: {k: v for k, v in self.method_knobs(m).items() if k != "hr"} for m in methods}
        self.trust_panel.clear()

        def work(job):
            from ..trust import report

            tables = {}
            for i, name in enumerate(self.names):
                tables[name] = report(self.models[name], self.image, window, methods=methods, hr=self.hr,
                                      knobs=knobs, device=self.runtimes[name].device, cancel=job.token,
                                      callback=lambda p, i=i: job.report(i, len(self.names)))
            job.deliver(self._show_trust, window, tables)

        t, l, h, w = window
        return self.start(work, label=f"trust of ({t}, {l}, {h}x{w})")
