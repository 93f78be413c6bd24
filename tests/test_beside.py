"""The missing-data step in a second process (analysis/core/beside.py): the same tables, in the same order,
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
        plain = referee.missing_data(synthetic, EXTRACT_DATE)[0]
        with comparing(PRESETS["nhs"].comparing()):
            assert not referee.missing_data(synthetic, EXTRACT_DATE)[0].equals(plain)
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
    assert len(two_notes) == 1 and two_notes[0].startswith(f"  {referee.MISSING} ran in a second process: ")
    bench = bench_module()  # it reads the line for the second process's seconds and memory, and not as a step
    assert bench.SECOND.search(two_notes[0]) and not bench.STEP.match(two_notes[0])
    assert bench.steps(two_notes[0]) == [(f"{referee.MISSING} ({bench.BESIDE})",
                                          float(bench.SECOND.search(two_notes[0]).group(2)))]


def bench_module():
    spec = importlib.util.spec_from_file_location("run_bench", ROOT / "bench" / "run_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_job_runs_the_work_here_and_only_when_asked():
    calls = []
    later = Beside(lambda: calls.append(os.getpid()) or "value", parallel=False)
    assert calls == []
    assert later.result() == "value" and later.result() == "value"
    assert calls == [os.getpid()]  # once, in this process
    assert later.added_gib is None and later.seconds is not None


@forking
def test_the_work_runs_in_another_process_and_its_result_comes_back():
    here = os.getpid()
    beside = Beside(lambda: {"pid": os.getpid(), "frame": pd.DataFrame({"a": [1.5, 2.5]})}, parallel=True)
    value = beside.result()
    assert value["pid"] != here
    pd.testing.assert_frame_equal(value["frame"], pd.DataFrame({"a": [1.5, 2.5]}))
    assert beside.added_gib is not None and beside.added_gib >= 0 and beside.seconds >= 0


@forking
def test_an_error_in_the_second_process_is_raised_here():
    def fails():
        raise ValueError("no model could be fitted")

    beside = Beside(fails, parallel=True)
    with pytest.raises(ValueError, match="no model could be fitted"):
        beside.result()


@forking
def test_a_second_process_that_dies_is_replaced_by_the_work_done_here():
    here, notes = os.getpid(), []

    def dies_there():
        if os.getpid() != here:
            os._exit(9)  # as the kernel's out-of-memory killer would leave it: no answer
        return "done here"

    beside = Beside(dies_there, parallel=True, note=notes.append)
    assert beside.result() == "done here"
    assert len(notes) == 1 and "stopped without a result (exit code 9)" in notes[0]
    assert beside.added_gib is None


@forking
def test_close_stops_work_never_asked_for():
    beside = Beside(lambda: time.sleep(60), parallel=True)
    started = time.perf_counter()
    beside.close()
    assert time.perf_counter() - started < 10
