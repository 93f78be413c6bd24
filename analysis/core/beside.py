"""One piece of work done in a second process, beside the run's own, on a machine with a second core.

The run's longest step (the missing-data imputation: 40% of a million-person run, and the same fixed cost
of about 8 s from ten thousand people up) needs nothing the other steps make, so it can run on the other
core while they run on this one. The second process is forked: it starts with this process's memory (the
validated extract is neither copied nor pickled) and sends back only its result, pickled through a pipe.
It runs the same functions on the same data, so the results are the same to the byte as a run in one
process (tests/test_beside.py compares the two).

Forking needs Linux: Windows cannot fork, and on macOS forking a process that has started threads (numpy's
BLAS, Arrow) is unsafe. There, with one core, or with `--jobs 1`, the work runs in this process when its
result is first asked for. If the second process dies without an answer (killed, out of memory), the work
is done again here, and the run says so; an error raised by the work itself is raised here, as it would
have been in one process.
"""
from __future__ import annotations

import multiprocessing
import os
import resource
import sys
import time
from typing import Callable, Generic, TypeVar

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


def _work_in_child(work: Callable[[], object], send) -> None:
    at_start, started = resident_bytes(), time.perf_counter()
    try:
        message = ("done", work(), time.perf_counter() - started, (peak_bytes() - at_start) / GIB)
    except BaseException as error:  # noqa: BLE001 - every error goes back to be raised in the run's process
        message = ("error", error)
    try:
        send.send(message)
    except Exception as error:  # an error or a result that cannot be pickled: said, not lost
        send.send(("error", RuntimeError(f"the second process could not send its {message[0]}: "
                                         f"{type(error).__name__}: {error}")))
    send.close()


class Beside(Generic[T]):
    """`work()` started now in a forked second process (when `parallel` and can_fork()), else run here
    when result() is first called. After result(): `seconds`, the work's own time, and `added_gib`, how far
    the second process's resident set grew above its size when forked (None when the work ran here)."""

    def __init__(self, work: Callable[[], T], parallel: bool, note: Callable[[str], None] = lambda message: None):
        self._work, self._note = work, note
        self._process = self._receive = None
        self._done, self._value = False, None
        self.seconds: float | None = None
        self.added_gib: float | None = None
        if parallel and can_fork():
            context = multiprocessing.get_context("fork")
            self._receive, send = context.Pipe(duplex=False)
            self._process = context.Process(target=_work_in_child, args=(work, send), daemon=True)
            self._process.start()
            send.close()  # this end belongs to the child: an EOF here then means the child is gone

    def result(self) -> T:
        if self._done:
            return self._value
        message = None
        if self._process is not None:
            try:
                message = self._receive.recv()
            except EOFError:  # the second process died without an answer
                pass
            self._process.join()  # it exits as soon as it has sent
            if message is None:
                self._note(f"warning: the second process stopped without a result (exit code "
                           f"{self._process.exitcode}); doing its work in this process")
            self._reap()
        if message is None:
            started = time.perf_counter()
            self._value = self._work()
            self.seconds = time.perf_counter() - started
        elif message[0] == "error":
            self._done = True
            raise message[1]
        else:
            _, self._value, self.seconds, self.added_gib = message
        self._done = True
        return self._value

    def close(self) -> None:
        """Stop the second process if its result was never asked for (a run that failed elsewhere)."""
        if self._process is not None:
            self._process.kill()
            self._process.join()
            self._reap()

    def _reap(self) -> None:
        self._receive.close()
        self._process = None
