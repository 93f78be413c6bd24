"""Steps done in a second process, beside the run's own, on a machine with a second core.

The run's longest step (the missing-data imputation: 40% of a million-person run, and the same fixed cost
of about 8 s from ten thousand people up) and the age spline need nothing the other steps make, so they
can run on the other core while the rest run on this one. The second process is forked: it starts with
this process's memory (the validated extract is neither copied nor pickled) and sends back only each
step's result, pickled through a pipe, as soon as that step is done. It runs the same functions on the
same data, so the results are the same to the byte as a run in one process (tests/test_beside.py
compares the two).

Forking needs Linux: Windows cannot fork, and on macOS forking a process that has started threads (numpy's
BLAS, Arrow) is unsafe. There, with one core, or with `--jobs 1`, each step runs in this process when its
result is asked for. If the second process dies without an answer (killed, out of memory), only the
steps it had not sent are done here (the work is asked for its items from that one on), and the run says so; an error raised by a step itself is raised here, as it
would have been in one process.
"""
from __future__ import annotations

import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
GIB = 2 ** 30


def can_fork() -> bool:
    """Whether this machine can run work in a forked second process: Linux, two or more cores."""
    return sys.platform.startswith("linux") and (os.cpu_count() or 1) >= 2


def resident_bytes() -> int:
    """This process's resident set size now (Linux: /proc/self/statm, in pages)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_bytes() -> int:
    """This process's largest resident set size so far (getrusage, KiB on Linux). A forked process's count
    starts at its size when forked."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _work_in_child(work: Callable[[int], Iterable[object]], send) -> None:
    at_start, started = resident_bytes(), time.perf_counter()
    try:
        for item in work(0):
            send.send(("item", item, time.perf_counter() - started, (peak_bytes() - at_start) / GIB))
            started = time.perf_counter()
        message = ("end",)
    except BaseException as error:  # noqa: BLE001 - every error goes back to be raised in the run's process
        message = ("error", error)
    try:
        send.send(message)
    except Exception as error:  # an error that cannot be pickled (or a result, above): said, not lost
        send.send(("error", RuntimeError(f"the second process could not send its {message[0]}: "
                                         f"{type(error).__name__}: {error}")))
    send.close()


class Beside(Generic[T]):
    """The items of `work(start)` (one per step, from the start-th on), made in a forked second process
    started now (when `parallel` and can_fork()), else here one at a time as next() asks for them. After each next(): `seconds`, that
    item's own time, and `added_gib`, how far the second process's resident set has grown above its size
    when forked (None when the item was made here)."""

    def __init__(self, work: Callable[[int], Iterable[T]], parallel: bool,
                 note: Callable[[str], None] = lambda message: None):
        self._work, self._note = work, note
        self._process = self._receive = None
        self._here: Iterator[T] | None = None
        self._received = 0
        self.seconds: float | None = None
        self.added_gib: float | None = None
        if parallel and can_fork():
            context = multiprocessing.get_context("fork")
            self._receive, send = context.Pipe(duplex=False)
            self._process = context.Process(target=_work_in_child, args=(work, send), daemon=True)
            self._process.start()
            send.close()  # this end belongs to the child: an EOF here then means the child is gone

    def next(self) -> T:
        """The next item (StopIteration when there is none)."""
        if self._process is not None:
            try:
                message = self._receive.recv()
            except EOFError:  # the second process died without an answer
                self._process.join()
                self._note(f"warning: the second process stopped without a result (exit code "
                           f"{self._process.exitcode}); doing its remaining steps in this process")
                self.close()
                self._here = iter(self._work(self._received))  # only the items not received
            else:
                if message[0] == "error":
                    self.close()
                    raise message[1]
                if message[0] == "end":
                    self.close()
                    raise StopIteration
                _, item, self.seconds, self.added_gib = message
                self._received += 1
                return item
        if self._here is None:
            self._here = iter(self._work(0))
        started = time.perf_counter()
        item = next(self._here)
        self.seconds, self.added_gib = time.perf_counter() - started, None
        return item

    def close(self) -> None:
        """Stop the second process (it has sent everything, or its items are no longer wanted) and reap it."""
        if self._process is not None:
            self._process.kill()
            self._process.join()
            self._receive.close()
            self._process = None
