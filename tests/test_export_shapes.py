"""Any export as it comes (#23): each shape of tests/export_shapes.py (RiO, SystmOne, Epic and Carenotes
styles) goes from the raw file to results with its mapping and nothing done to the file. validate passes
and says what it skipped, mapping-template proposes the obvious columns, the run counts every row it left
out by reason and gives the committed results of the synthetic data byte for byte (the people are the
same); one shape goes on to reports, with the local record kept outside the shared results."""
from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import main
from analysis.data.load import COPY_REASON
from analysis.pipeline import KEPT_FILES
from export_shapes import EXTRACT_DATE, WINDOW, make

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "results"
SITES = ROOT / "data_synthetic" / "making_ips_work_sites.csv"
REASONS = {"copy": COPY_REASON, "before": f"first contact before the entry window ({WINDOW[0]})",
           "after": f"first contact after the entry window ({WINDOW[1]})",
           "episode": "another episode of a person already counted (each person's first episode that starts in the "
                      "entry window is analysed)"}
NAMES = sorted(["rio", "systmone", "epic", "carenotes"])


def cli(*args: str) -> tuple[int, str]:
    """The command line's exit code and everything it wrote on stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, err.getvalue()


def run_args(shape, out: Path, *extra: str) -> list[str]:
    references = [a for r in shape.references for a in ("--reference", r)]
    return ["run", shape.extract, "--mapping", shape.mapping, *references, "--sites", SITES, "--extract-date",
            EXTRACT_DATE, "--entry-from", WINDOW[0], "--entry-to", WINDOW[1], "--out", out,
            "--staffing", str(ROOT / "data_synthetic" / "staffing.csv"), *extra]  # as make passes it


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make(tmp_path_factory.mktemp("shapes"))


@pytest.fixture(scope="module")
def runs(shapes, tmp_path_factory):
    """Each shape run as the committed synthetic results were (no disclosure control, the site table)."""
    folder = tmp_path_factory.mktemp("runs")
    return {name: (folder / name, *cli(*run_args(shape, folder / name, "--disclosure", "none", "--no-figures")))
            for name, shape in shapes.items()}


def test_the_corpus_is_the_same_every_time(shapes, tmp_path):
    """The same bytes for a CSV; the same cells for a workbook (its zip stamps the time it was written)."""
    from analysis.data.read import read_table

    again = make(tmp_path)
    for name, shape in shapes.items():
        if shape.extract.suffix == ".csv":
            assert shape.extract.read_bytes() == again[name].extract.read_bytes(), name
        else:
            pd.testing.assert_frame_equal(read_table(shape.extract), read_table(again[name].extract))


@pytest.mark.parametrize("name", NAMES)
def test_each_shape_validates_with_its_mapping_and_says_what_it_skipped(shapes, name):
    shape = shapes[name]
    code, err = cli("validate", shape.extract, "--mapping", shape.mapping, "--extract-date", EXTRACT_DATE)
    assert code == 0, err
    assert "Traceback" not in err
    for note in shape.notes[:2] if name == "systmone" else shape.notes:
        assert note in err, (note, err)
    if "episode" in shape.excluded or "after" in shape.excluded or "before" in shape.excluded:
        assert "have more than one episode" in err


@pytest.mark.parametrize("name", NAMES)
def test_mapping_template_proposes_the_obvious_columns(shapes, name, tmp_path):
    shape = shapes[name]
    code, err = cli("mapping-template", shape.extract, "--out", tmp_path / "map.yaml")
    assert code == 0 and "Traceback" not in err
    text = (tmp_path / "map.yaml").read_text()
    for column, target in shape.guesses.items():
        assert f"\n  {column}: {target}\n" in text, (column, target, text)
    assert "warning" not in err


@pytest.mark.parametrize("name", NAMES)
def test_each_shape_counts_every_row_it_left_out_by_reason(shapes, runs, name):
    out, code, err = runs[name]
    assert code == 0, err[-3000:]
    for note in shapes[name].notes:
        assert note in err, (note, err)
    flow = pd.read_csv(out / "exclusions.csv")
    excluded = {REASONS[k]: n for k, n in shapes[name].excluded.items()}
    expected = ([("read", "rows in the extract", 539 + sum(excluded.values()))]
                + [("excluded", reason, excluded.get(reason, 0)) for reason in
                   (REASONS["copy"], REASONS["before"], REASONS["after"], REASONS["episode"])]
                + [("analysed", f"first contact {WINDOW[0]} to {WINDOW[1]}", 539)])
    assert list(flow.itertuples(index=False, name=None)) == expected


@pytest.mark.parametrize("name", NAMES)
def test_each_shape_gives_the_committed_results_of_the_synthetic_data(runs, name):
    out, code, err = runs[name]
    assert code == 0, err[-3000:]
    written = {p.name for p in out.glob("*.csv")} - {"exclusions.csv", "run_info.csv"}
    committed = {p.name for p in COMMITTED.glob("*.csv")} - {"exclusions.csv", "run_info.csv", *KEPT_FILES}
    assert written == committed
    assert len(written) > 40
    for table in sorted(written):
        assert (out / table).read_bytes() == (COMMITTED / table).read_bytes(), table


def test_a_shape_renders_to_reports_and_its_local_record_stays_outside_the_shared_results(shapes, tmp_path):
    """The Epic shape as a trust runs it (disclosure control on): the shared exclusions blank and round the
    small counts, the local folder keeps them exact with the inputs' SHA-256, and the reports render."""
    shape = shapes["epic"]
    out, local = tmp_path / "share", tmp_path / "keep"
    code, err = cli(*run_args(shape, out, "--local-dir", local, "--service-name", "Epic-style Trust IPS"))
    assert code == 0, err[-3000:]
    shared = pd.read_csv(out / "exclusions.csv", keep_default_na=False).set_index("reason")["rows"]
    exact = pd.read_csv(local / "exclusions_exact.csv").set_index("reason")["rows"]
    assert exact[COPY_REASON] == 1 and exact[REASONS["episode"]] == 4 and exact[REASONS["after"]] == 12
    assert shared[COPY_REASON] == "" and shared[REASONS["episode"]] == "" and shared[REASONS["after"]] == "10"
    record = pd.read_csv(local / "run_record.csv").set_index("item")["value"]
    digest = hashlib.sha256(shape.extract.read_bytes()).hexdigest()
    assert record["extract_sha256"] == digest
    assert len(pd.read_csv(local / "problems.csv")) == 0
    for path in out.rglob("*.csv"):
        text = path.read_text()
        assert digest not in text and "E000001" not in text, path.name
    assert cli("report", "--results", out, "--out", tmp_path / "reports", "--to", "html")[0] == 0
    index = (tmp_path / "reports" / "index.html").read_text()
    assert "Epic-style Trust IPS" in index


def test_the_local_record_and_the_problems_may_not_go_into_the_shared_results(shapes, tmp_path):
    shape = shapes["rio"]
    for option in ("--local-dir", "--problems"):
        out = tmp_path / "share"
        code, err = cli(*run_args(shape, out, option, out / "inside", "--no-figures"))
        assert code == 2 and f"{option}: found '{out / 'inside'}', inside the results folder" in err, err
        assert not out.exists()
