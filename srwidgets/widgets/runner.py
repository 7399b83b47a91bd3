"""The worker that runs engine jobs for a widget: one job at a time on a daemon thread, a new job supersedes
(cancels) the running one, throttled progress, errors captured and shown instead of raised.

Everything a job shows goes through :meth:`Job.deliver`, which runs it only while the job is still the current
one, so a stale job can never overwrite a newer result. A new job waits until the superseded one has stopped
(at most one engine chunk). :meth:`Runner.close` cancels the running job and refuses new ones.

Example:
    >>> from srwidgets.widgets.runner import Runner
    >>> log = []
    >>> runner = Runner(on_busy=lambda b: log.append(("busy", b)), on_progress=lambda *a: None,
    ...                 on_error=lambda msg, tb: log.append(("error", msg)), on_cancelled=lambda job: None)
    >>> job = runner.submit(lambda job: job.deliver(log.append, "result"))
    >>> runner.wait(5)
    True
    >>> log
    [('busy', True), 'result', ('busy', False)]
"""
from __future__ import annotations

import atexit
import math
import threading
import time
import traceback
import weakref
from typing import Callable, Optional

from ..errors import Cancelled, InputError
from ..progress import CancelToken

__all__ = ["Job", "Runner"]


class Job:
    """One engine run on the worker thread. ``work(job)`` receives it and uses ``job.token`` (pass it to the
    engine as ``cancel``), ``job.report(...)`` for progress and ``job.deliver(fn, ...)`` to show results."""

    def __init__(self, runner: "Runner", generation: int, label: str):
        self.runner, self.generation, self.label = runner, generation, label
        self.token = CancelToken()
        self.finished = threading.Event()
        self.done = 0
        self.total = 0
        self.thread: Optional[threading.Thread] = None
        self._last_partial = -math.inf

    @property
    def current(self) -> bool:
        """False once a newer job (or a cached display) superseded this one."""
        return self.runner._current is self

    def deliver(self, fn: Callable, *args, **kwargs) -> bool:
        """Run ``fn(*args, **kwargs)`` (on this thread) only if this job is still current; True if it ran.
        Holding the runner's lock means no newer job can start being shown half-way through."""
        with self.runner._lock:
            if not self.current:
                return False
            fn(*args, **kwargs)
            return True

    def report(self, done: int, total: int, partial: Optional[Callable[[], None]] = None) -> None:
        """Progress ``done`` of ``total``: the bar moves on every call (cheap); ``partial()`` (e.g. repaint a
        refining heatmap) runs at most every ``runner.throttle`` seconds."""
        self.done, self.total = int(done), int(total)
        now = time.monotonic()
        paint = partial is not None and now - self._last_partial >= self.runner.throttle

        def show():
            self.runner._on_progress(self.done, self.total, self.label)
            if paint:
                partial()

        if self.deliver(show) and paint:
            self._last_partial = time.monotonic()


_RUNNERS: "weakref.WeakSet[Runner]" = weakref.WeakSet()


@atexit.register
def _stop_workers_at_exit() -> None:
    # A daemon thread still inside a torch op when the interpreter exits aborts the process ("terminate called
    # without an active exception"): cancel every job and give the threads a moment to leave torch.
    jobs = [j for r in list(_RUNNERS) for j in (r._current, r._last) if j is not None]
    for job in jobs:
        job.token.cancel()
    deadline = time.monotonic() + 10.0
    for job in jobs:
        if job.thread is not None and job.thread.is_alive():
            job.thread.join(max(0.0, deadline - time.monotonic()))


class Runner:
    """Runs one job at a time on daemon worker threads; a new job supersedes (cancels) the running one.

    Callbacks run on the worker thread and only for the current job: ``on_busy(bool)``,
    ``on_progress(done, total, label)``, ``on_error(message, traceback_or_None)``, ``on_cancelled(job)``.
    :class:`InputError` gives its own message; other exceptions give ``"TypeName: message"`` plus the traceback.
    """

    def __init__(self, on_busy, on_progress, on_error, on_cancelled, throttle: float = 0.25):
        self._on_busy, self._on_progress, self._on_error, self._on_cancelled = on_busy, on_progress, on_error, on_cancelled
        self.throttle = throttle
        self._lock = threading.RLock()
        self._generation = 0
        self._current: Optional[Job] = None  # the job whose output may still be shown
        self._last: Optional[Job] = None     # the last job started (a new one waits for it to stop)
        self._closed = False
        _RUNNERS.add(self)

    @property
    def busy(self) -> bool:
        job = self._current
        return job is not None and not job.finished.is_set()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, timeout: float = 5.0) -> None:
        """Cancel the running job, wait up to ``timeout`` seconds for its thread to leave the engine, and refuse
        new jobs (``submit`` then raises :class:`RuntimeError`)."""
        with self._lock:
            self._closed = True
            job = self._last
        if job is not None:
            job.token.cancel()
            if job.thread is not None and job.thread is not threading.current_thread():
                job.thread.join(timeout)

    def submit(self, work: Callable[[Job], None], label: str = "") -> Job:
        with self._lock:
            if self._closed:
                raise RuntimeError("this runner is closed (its widget was closed); create a new widget")
            self._generation += 1
            job = Job(self, self._generation, label)
            previous, self._last, self._current = self._last, job, job
            if previous is not None:
                previous.token.cancel()
            self._on_busy(True)
        thread = threading.Thread(target=self._run, args=(job, previous, work), daemon=True,
                                  name=f"srwidgets-{label or 'job'}-{job.generation}")
        job.thread = thread
        thread.start()
        return job

    def supersede(self) -> None:
        """Drop the running job's output without starting a new one (e.g. a cached result is shown instead)."""
        with self._lock:
            self._generation += 1
            if self._current is not None:
                self._current.token.cancel()
                self._current = None
                self._on_busy(False)

    def cancel(self, asked: Optional[Callable[[], None]] = None) -> bool:
        """Ask the current job to stop (within one engine chunk); it reports through ``on_cancelled``. ``asked()``
        (e.g. a "cancelling..." status) runs when there was a job to stop, before any callback of that job can
        run again: the job's own last word (``on_cancelled``, ``on_busy(False)``) comes after it."""
        with self._lock:
            job = self._current
            if job is None or job.finished.is_set():
                return False
            job.token.cancel()
            if asked is not None:
                asked()
            return True

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the current job (and any job that supersedes it meanwhile) has ended; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self._current
            if job is None:
                return True
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not job.finished.wait(remaining):
                return False
            if self._current is job or self._current is None:
                return True

    def _run(self, job: Job, previous: Optional[Job], work) -> None:
        try:
            if previous is not None:
                previous.finished.wait()  # one engine at a time: the superseded job stops within a chunk
            try:
                job.token.raise_if_cancelled()
                work(job)
            except Cancelled:
                job.deliver(self._on_cancelled, job)
            except InputError as exc:
                job.deliver(self._on_error, str(exc), None)
            except Exception as exc:  # shown in the widget; the widget keeps working
                job.deliver(self._on_error, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        except Exception:  # a failing callback must not leave the job unfinished
            traceback.print_exc()
        finally:
            with self._lock:  # busy off and finished as one step: a cancel asked meanwhile sees both or neither
                try:
                    job.deliver(self._on_busy, False)
                finally:
                    job.finished.set()


