"""Cancellation and progress reports (srwidgets.progress)."""
import threading
import time

import pytest

from srwidgets.errors import Cancelled
from srwidgets.progress import CancelToken, Progress, check_cancel, is_cancelled, wait_cancellable


# --- CancelToken ---------------------------------------------------------------------------------------------------
def test_cancel_token_starts_clear_and_stays_cancelled():
    t = CancelToken()
    assert not t.cancelled and t() is False
    t.raise_if_cancelled()  # no-op while clear
    t.cancel()
    assert t.cancelled and t() is True
    t.cancel()  # idempotent
    assert t.cancelled


def test_cancel_token_raises_cancelled():
    t = CancelToken()
    t.cancel()
    with pytest.raises(Cancelled, match="cancelled by the user"):
        t.raise_if_cancelled()
    assert issubclass(Cancelled, RuntimeError)


def test_cancel_token_set_from_another_thread():
    t = CancelToken()
    th = threading.Thread(target=t.cancel)
    th.start()
    th.join()
    assert t.cancelled


def test_cancel_tokens_are_independent():
    a, b = CancelToken(), CancelToken()
    a.cancel()
    assert a.cancelled and not b.cancelled


# --- is_cancelled / check_cancel -----------------------------------------------------------------------------------
def test_is_cancelled_none_is_never():
    assert is_cancelled(None) is False
    check_cancel(None)


def test_is_cancelled_event():
    e = threading.Event()
    assert is_cancelled(e) is False
    e.set()
    assert is_cancelled(e) is True


def test_is_cancelled_token():
    t = CancelToken()
    assert is_cancelled(t) is False
    t.cancel()
    assert is_cancelled(t) is True


def test_is_cancelled_callable_is_called_each_time_and_coerced_to_bool():
    answers = iter([0, None, "yes", 1])
    calls = []

    def ask():
        calls.append(1)
        return next(answers)

    assert [is_cancelled(ask) for _ in range(4)] == [False, False, True, True]
    assert len(calls) == 4


@pytest.mark.parametrize("make", [lambda: _set(CancelToken()), lambda: _set(threading.Event()), lambda: (lambda: True)],
                         ids=["token", "event", "callable"])
def test_check_cancel_raises_for_every_kind(make):
    with pytest.raises(Cancelled):
        check_cancel(make())


def _set(x):
    (x.cancel if isinstance(x, CancelToken) else x.set)()
    return x


# --- Progress ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("done,total,want", [(0, 4, 0.0), (1, 4, 0.25), (3, 4, 0.75), (4, 4, 1.0), (0, 0, 1.0)])
def test_progress_fraction(done, total, want):
    assert Progress(done, total).fraction == want


def test_progress_defaults_are_fresh_per_report():
    a, b = Progress(1, 2), Progress(1, 2)
    assert a.stage == "" and a.partial is None and a.info == {}
    a.info["x"] = 1
    assert b.info == {}  # no shared mutable default


# --- wait_cancellable ----------------------------------------------------------------------------------------------
def test_wait_cancellable_returns_the_result_or_raises_the_error_of_the_work():
    assert wait_cancellable(lambda: [1, 2], CancelToken()) == [1, 2]
    assert wait_cancellable(lambda: "here", None) == "here"
    with pytest.raises(ZeroDivisionError):
        wait_cancellable(lambda: 1 / 0, threading.Event())


def test_a_cancel_returns_at_once_while_work_that_never_looks_at_the_token_goes_on():
    token, finished = CancelToken(), threading.Event()

    def blind():  # a library call: it never checks the token
        time.sleep(1.5)
        finished.set()
        return "late"

    threading.Timer(0.1, token.cancel).start()
    with pytest.raises(Cancelled):
        wait_cancellable(blind, token, poll=0.02)
    assert not finished.is_set()  # it returned while the work was still running: it did not wait for it
    assert finished.wait(5)  # which finished on its own, in the background


def test_an_already_cancelled_token_starts_no_work():
    token, calls = CancelToken(), []
    token.cancel()
    with pytest.raises(Cancelled):
        wait_cancellable(lambda: calls.append(1), token)
    time.sleep(0.05)
    assert calls == []


def test_calls_sharing_a_lock_run_one_at_a_time_even_after_a_cancel():
    lock, token, log = threading.Lock(), CancelToken(), []

    def slow(tag):
        def run():
            log.append(("start", tag, time.monotonic()))
            time.sleep(0.6)
            log.append(("end", tag, time.monotonic()))
            return tag
        return run

    threading.Timer(0.1, token.cancel).start()
    with pytest.raises(Cancelled):
        wait_cancellable(slow("old"), token, poll=0.02, lock=lock)  # returns at once, "old" goes on
    assert wait_cancellable(slow("new"), CancelToken(), poll=0.02, lock=lock) == "new"
    events = [(kind, tag) for kind, tag, _ in log]
    assert events == [("start", "old"), ("end", "old"), ("start", "new"), ("end", "new")]  # never overlapping


def test_a_call_cancelled_while_it_waits_for_the_lock_never_runs():
    lock, token, calls = threading.Lock(), CancelToken(), []
    lock.acquire()
    threading.Timer(0.1, token.cancel).start()
    with pytest.raises(Cancelled):
        wait_cancellable(lambda: calls.append(1), token, poll=0.02, lock=lock)
    lock.release()
    time.sleep(0.1)
    assert calls == []
