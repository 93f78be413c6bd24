"""The missing-data step and the age spline in a second process (analysis/core/beside.py): the same tables, in the same order,
as in one process, under the release's comparison rule too; errors raised where the run can report them;
a second process that dies is replaced by doing its work here."""
import importlib.util
import os
import time
from contextlib import nullcontext

import pandas as pd
import pytest

from analysis.core.beside import Beside, can_fork
from analysis.pipeline import analysis_steps
from analysis.questions import referee
from analysis.release import PRESETS
from analysis.stats.modelling import comparing
from tests.conftest import EXTRACT_DATE, ROOT

forking = pytest.mark.skipif(not can_fork(), reason="forking needs Linux and two or more cores")


def steps_of(data, jobs, notes):
    return [(label, keys, tables) for label, keys, tables in
            analysis_steps(data, EXTRACT_DATE, jobs=jobs, progress=notes.append)]


@forking
@pytest.mark.parametrize("rule", ["none", "nhs"])
def test_two_processes_give_the_tables_of_one(synthetic, rule):
    """Under nhs the models leave out the groups a release hides (a context variable): the second process
    must inherit that rule, and without it its missing-data tables differ (checked first)."""
    if rule == "nhs":
        plain = dict(referee.beside_steps(synthetic, EXTRACT_DATE))
        with comparing(PRESETS["nhs"].comparing()):
            controlled = dict(referee.beside_steps(synthetic, EXTRACT_DATE))
        assert not controlled[referee.MISSING][0].equals(plain[referee.MISSING][0])
    runs = {}
    for jobs in (1, 2):
        notes = []
        with comparing(PRESETS["nhs"].comparing()) if rule == "nhs" else nullcontext():
            runs[jobs] = steps_of(synthetic, jobs, notes), notes
    (one, one_notes), (two, two_notes) = runs[1], runs[2]
    assert [label for label, _, _ in two] == [label for label, _, _ in one]
    assert referee.MISSING in [label for label, _, _ in two]
    for (label, keys1, tables1), (_, keys2, tables2) in zip(one, two):
        pd.testing.assert_frame_equal(pd.DataFrame(keys2), pd.DataFrame(keys1), check_exact=True, obj=label)
        assert list(tables2) == list(tables1), label
        for name in tables1:
            pd.testing.assert_frame_equal(tables2[name], tables1[name], check_exact=True, obj=name)
    assert not one_notes
    assert [note.split(" ran in a second process: ")[0] for note in two_notes] == [f"  {s}" for s in referee.BESIDE]
    bench = bench_module()  # it reads these lines for the second process's seconds and memory, not as steps
    log = "\n".join(two_notes)
    assert not any(bench.STEP.match(note) for note in two_notes)
    assert bench.steps(log) == [(f"{step} ({bench.BESIDE})", float(m.group(2)))
                                for step, m in zip(referee.BESIDE, bench.SECOND.finditer(log))]


def bench_module():
    spec = importlib.util.spec_from_file_location("run_bench", ROOT / "bench" / "run_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_job_makes_each_item_here_and_only_when_asked():
    calls = []

    def items(start):
        for name in ("first", "second")[start:]:
            calls.append((name, os.getpid()))
            yield name

    later = Beside(items, parallel=False)
    assert calls == []
    assert later.next() == "first" and calls == [("first", os.getpid())]
    assert later.next() == "second" and later.added_gib is None and later.seconds is not None
    with pytest.raises(StopIteration):
        later.next()


@forking
def test_the_items_are_made_in_another_process_and_come_back_in_order():
    here = os.getpid()
    beside = Beside(lambda start: ({"pid": os.getpid(), "frame": pd.DataFrame({"a": [i + 0.5]})} for i in range(start, 3)),
                    parallel=True)
    for i in range(3):
        value = beside.next()
        assert value["pid"] != here
        pd.testing.assert_frame_equal(value["frame"], pd.DataFrame({"a": [i + 0.5]}))
        assert beside.added_gib is not None and beside.added_gib >= 0 and beside.seconds >= 0
    with pytest.raises(StopIteration):
        beside.next()


@forking
def test_an_error_in_the_second_process_is_raised_here():
    def fails(start):
        yield "fine"
        raise ValueError("no model could be fitted")

    beside = Beside(fails, parallel=True)
    assert beside.next() == "fine"
    with pytest.raises(ValueError, match="no model could be fitted"):
        beside.next()


@forking
def test_a_second_process_that_dies_is_replaced_by_the_items_made_here():
    here, notes = os.getpid(), []

    def dies_after_one(start):
        if start == 0:
            yield "sent"
        if os.getpid() != here:
            os._exit(9)  # as the kernel's out-of-memory killer would leave it: no answer
        yield "made here"

    beside = Beside(dies_after_one, parallel=True, note=notes.append)
    assert beside.next() == "sent" and beside.added_gib is not None
    assert beside.next() == "made here" and beside.added_gib is None  # only the item not received is made again
    assert len(notes) == 1 and "stopped without a result (exit code 9)" in notes[0]
    with pytest.raises(StopIteration):
        beside.next()


@forking
def test_close_stops_work_never_asked_for():
    beside = Beside(lambda start: iter([time.sleep(60)]), parallel=True)
    started = time.perf_counter()
    beside.close()
    assert time.perf_counter() - started < 10
