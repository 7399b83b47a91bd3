"""The chunk loop of every engine (srwidgets.engine.chunks)."""
import threading

import pytest

from srwidgets.engine.chunks import run_chunks
from srwidgets.errors import Cancelled
from srwidgets.progress import CancelToken


def _sizes(*sizes):
    """A ``chunk()`` returning ``sizes`` in turn."""
    it = iter(sizes)
    return lambda: next(it)


def test_run_chunks_covers_every_item_once_in_order_with_the_asked_sizes():
    seen = []
    assert run_chunks(10, lambda a, b: seen.append((a, b)), chunk=_sizes(3, 1, 4, 2)) == 10
    assert seen == [(0, 3), (3, 4), (4, 8), (8, 10)]


def test_run_chunks_default_is_one_item_per_chunk():
    seen = []
    run_chunks(3, lambda a, b: seen.append((a, b)))
    assert seen == [(0, 1), (1, 2), (2, 3)]


def test_run_chunks_takes_at_least_one_item():
    seen = []
    run_chunks(4, lambda a, b: seen.append((a, b)), chunk=_sizes(0, -5, 2, 0))
    assert seen == [(0, 1), (1, 2), (2, 4)]


def test_run_chunks_clips_the_last_chunk_to_what_is_left():
    seen = []
    run_chunks(5, lambda a, b: seen.append((a, b)), chunk=_sizes(3, 100))
    assert seen == [(0, 3), (3, 5)]


def test_run_chunks_asks_the_size_just_before_each_chunk():
    # the size of chunk k+1 can depend on what chunk k measured
    events = []

    def chunk():
        events.append("size")
        return 2

    run_chunks(5, lambda a, b: events.append((a, b)), chunk=chunk)
    assert events == ["size", (0, 2), "size", (2, 4), "size", (4, 5)]


def test_run_chunks_of_nothing_runs_nothing():
    seen = []
    assert run_chunks(0, lambda a, b: seen.append((a, b)), on_chunk=lambda d, t: seen.append("progress")) == 0
    assert seen == []


def test_run_chunks_reports_progress_after_each_chunk():
    events = []
    run_chunks(7, lambda a, b: events.append(("run", a, b)), chunk=lambda: 3,
               on_chunk=lambda done, total: events.append(("done", done, total)))
    assert events == [("run", 0, 3), ("done", 3, 7), ("run", 3, 6), ("done", 6, 7), ("run", 6, 7), ("done", 7, 7)]


def _token():
    t = CancelToken()
    return t, t.cancel


def _event():
    e = threading.Event()
    return e, e.set


def _callable():
    flag = []
    return (lambda: bool(flag)), (lambda: flag.append(1))


@pytest.mark.parametrize("make", [_token, _event, _callable], ids=["CancelToken", "Event", "callable"])
def test_cancel_during_chunk_k_stops_before_chunk_k_plus_1(make):
    cancel, trigger = make()
    ran, progress = [], []

    def run(a, b):
        ran.append((a, b))
        if a == 2:  # chunk k = 1 (items 2..3) sets the cancel
            trigger()

    with pytest.raises(Cancelled):
        run_chunks(10, run, chunk=lambda: 2, cancel=cancel, on_chunk=lambda d, t: progress.append(d))
    assert ran == [(0, 2), (2, 4)]  # chunk k finished, chunk k+1 never started
    assert progress == [2, 4]  # chunk k's progress was still reported


@pytest.mark.parametrize("make", [_token, _event, _callable], ids=["CancelToken", "Event", "callable"])
def test_cancel_set_before_the_start_runs_nothing(make):
    cancel, trigger = make()
    trigger()
    ran = []
    with pytest.raises(Cancelled):
        run_chunks(3, lambda a, b: ran.append((a, b)), cancel=cancel)
    assert ran == []


def test_cancel_after_the_last_chunk_does_not_raise():
    t = CancelToken()
    seen = []

    def run(a, b):
        seen.append((a, b))
        if b == 4:
            t.cancel()

    assert run_chunks(4, run, chunk=lambda: 2, cancel=t) == 4
    assert seen == [(0, 2), (2, 4)]
