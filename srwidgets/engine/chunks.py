"""The chunk loop every engine runs: check cancel → size the chunk → run it → report progress.

LAM integrates path steps, DDR will extract features image by image, FAIG will integrate parameter gradients
along a path in weight space: the same loop, with a different ``run``. The size of each chunk is asked for
just before it runs, so an engine can measure the first chunk's memory and size the rest from it.

Example:
    >>> from srwidgets.engine.chunks import run_chunks
    >>> seen = []
    >>> run_chunks(5, lambda start, stop: seen.append((start, stop)), chunk=lambda: 2)
    5
    >>> seen
    [(0, 2), (2, 4), (4, 5)]
"""
from __future__ import annotations

from typing import Callable, Optional

from ..progress import CancelLike, check_cancel

__all__ = ["run_chunks"]


def run_chunks(total: int, run: Callable[[int, int], None], *, chunk: Callable[[], int] = lambda: 1,
               cancel: CancelLike = None, on_chunk: Optional[Callable[[int, int], None]] = None) -> int:
    """Run items ``0 .. total − 1`` in consecutive chunks ``run(start, stop)``.

    Args:
        total: number of items (steps, images, ...).
        run: does the work of items ``start .. stop − 1``.
        chunk: items for the next chunk (called before each; at least 1 is taken).
        cancel: token, event or callable, checked before every chunk: raises
            :class:`~srwidgets.errors.Cancelled`, so a cancel takes effect within one chunk.
        on_chunk: called after each chunk with ``(done, total)``.

    Returns:
        ``total`` (the items done).
    """
    done = 0
    while done < total:
        check_cancel(cancel)
        stop = min(total, done + max(1, int(chunk())))
        run(done, stop)
        done = stop
        if on_chunk is not None:
            on_chunk(done, total)
    return done
