"""The widget worker on its own (srwidgets.widgets.runner): one job at a time off the calling thread, supersede,
cancel, errors captured, stale jobs never deliver, close."""
import threading
import time

import pytest

from srwidgets.errors import InputError
from srwidgets.widgets.runner import Runner


class Log:
    def __init__(self):
        self.events, self.lock = [], threading.Lock()

    def add(self, *e):
        with self.lock:
            self.events.append(e)

    def runner(self, throttle=0.0):
        return Runner(on_busy=lambda b: self.add("busy", b), on_progress=lambda d, t, l: self.add("progress", d, t),
                      on_error=lambda m, tb: self.add("error", m, tb is not None),
                      on_cancelled=lambda job: self.add("cancelled", job.generation), throttle=throttle)


def cancellable(seconds=5.0, started=None):
    def work(job):
        if started is not None:
            started.set()
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            job.token.raise_if_cancelled()
            time.sleep(0.01)
    return work


def test_work_runs_off_the_calling_thread_and_delivers():
    log, seen = Log(), []
    runner = log.runner()
    runner.submit(lambda job: job.deliver(seen.append, threading.current_thread()))
    assert runner.wait(5)
    assert seen and seen[0] is not threading.current_thread()
    assert log.events[0] == ("busy", True) and log.events[-1] == ("busy", False)


def test_a_new_job_supersedes_and_the_stale_one_never_delivers():
    log, started = Log(), threading.Event()
    runner = log.runner()
    first = runner.submit(cancellable(started=started))
    assert started.wait(5)
    second = runner.submit(lambda job: job.deliver(log.add, "second"))
    assert runner.wait(5) and first.finished.is_set()
    assert ("second",) in log.events
    assert ("cancelled", first.generation) not in log.events  # superseded jobs do not report
    assert not first.deliver(log.add, "late") and ("late",) not in log.events
    assert second.current and not first.current


def test_cancel_reports_through_on_cancelled():
    log, started = Log(), threading.Event()
    runner = log.runner()
    job = runner.submit(cancellable(started=started))
    assert started.wait(5)
    assert runner.cancel()
    assert runner.wait(5) and ("cancelled", job.generation) in log.events
    assert not runner.cancel()  # nothing running any more


def test_errors_are_captured_and_the_runner_keeps_working():
    log = Log()
    runner = log.runner()

    def bad_input(job):
        raise InputError("the window lies outside the SR image")

    def bug(job):
        raise KeyError("oops")

    runner.submit(bad_input)
    assert runner.wait(5)
    runner.submit(bug)
    assert runner.wait(5)
    runner.submit(lambda job: job.deliver(log.add, "fine"))
    assert runner.wait(5)
    errors = [e for e in log.events if e[0] == "error"]
    assert errors == [("error", "the window lies outside the SR image", False), ("error", "KeyError: 'oops'", True)]
    assert ("fine",) in log.events


def test_progress_is_reported_and_partials_are_throttled():
    log, painted = Log(), []
    runner = log.runner(throttle=10.0)

    def work(job):
        for k in range(1, 6):
            job.report(k, 5, partial=lambda k=k: painted.append(k))

    runner.submit(work)
    assert runner.wait(5)
    assert [e for e in log.events if e[0] == "progress"] == [("progress", k, 5) for k in range(1, 6)]
    assert painted == [1]  # the first repaint, then none within the 10 s throttle


def test_supersede_drops_the_running_job_without_starting_another():
    log, started = Log(), threading.Event()
    runner = log.runner()
    job = runner.submit(cancellable(started=started))
    assert started.wait(5)
    runner.supersede()
    assert not runner.busy and job.finished.wait(5) and not job.current


def test_close_cancels_stops_the_thread_and_refuses_new_jobs():
    log, started = Log(), threading.Event()
    runner = log.runner()
    job = runner.submit(cancellable(seconds=30, started=started))
    assert started.wait(5)
    runner.close()
    assert job.finished.is_set() and not job.thread.is_alive() and runner.closed
    with pytest.raises(RuntimeError, match="closed"):
        runner.submit(lambda job: None)


def test_jobs_submitted_from_many_threads_at_once_only_the_last_delivers():
    log, shown = Log(), []
    runner = log.runner()
    order, lock = [], threading.Lock()

    def submit(k):
        for i in range(10):
            with lock:  # the order the jobs were submitted in, to know which one is last
                order.append(((k, i), runner.submit(lambda job, tag=(k, i): (time.sleep(0.002),
                                                                              job.deliver(shown.append, tag)))))

    threads = [threading.Thread(target=submit, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runner.wait(30)
    last_tag, last_job = order[-1]
    assert shown and shown[-1] == last_tag  # the newest job's output is what stays shown
    assert all(not job.current for _, job in order[:-1]) and last_job.current
    runner.close()
