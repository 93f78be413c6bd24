"""The pipeline end to end: the committed results/ are what the code makes of the committed data, byte for
byte (so they are current and reproducible), and a failed run leaves an earlier good run untouched."""
import filecmp
from pathlib import Path

import psutil
import pytest

from analysis.cli import main

ROOT = Path(__file__).resolve().parent.parent


def files_under(folder: Path) -> list[str]:
    """Files a run writes (results/benchmark.csv comes from `make bench`)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "benchmark.csv")


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "results"
    assert main(["run", str(ROOT / "data_synthetic" / "ips_extract.csv"), "--reference",
                 str(ROOT / "data_synthetic" / "reference_population.csv"), "--sites",
                 str(ROOT / "data_synthetic" / "making_ips_work_sites.csv"), "--extract-date", "2024-02-27",
                 "--disclosure", "none",
                 "--out", str(out)]) == 0
    return out


def test_committed_results_are_current_and_byte_identical(fresh_run):
    committed = ROOT / "results"
    assert files_under(fresh_run) == files_under(committed), "run `make` and commit results/"
    for name in files_under(committed):
        assert filecmp.cmp(fresh_run / name, committed / name, shallow=False), f"{name} is stale: run `make`"


def test_no_person_level_column_reaches_results(fresh_run):
    for path in fresh_run.glob("*.csv"):
        header = path.read_text().splitlines()[0].split(",")
        assert "person_id" not in header, path.name


def test_a_failed_run_leaves_the_earlier_results_untouched(fresh_run, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text((ROOT / "data_synthetic" / "ips_extract.csv").read_text().replace("2022-04-01", "2022-13-01", 1))
    before = {name: (fresh_run / name).read_bytes() for name in files_under(fresh_run)}
    children = set(psutil.Process().children(recursive=True))  # other tests' kernels or browsers may be running
    assert main(["run", str(bad), "--extract-date", "2024-02-27", "--out", str(fresh_run)]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert {name: (fresh_run / name).read_bytes() for name in files_under(fresh_run)} == before
    assert not list(fresh_run.parent.glob(".results.*"))
    assert set(psutil.Process().children(recursive=True)) <= children  # nothing left running


def test_figures_are_the_same_bytes_with_a_fresh_font_cache_in_a_separate_process(tmp_path):
    """A fresh machine builds matplotlib's font cache from scratch, with whatever fonts the system has
    (Debian's chromium brings DejaVu and Liberation): the figures must not depend on that."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl")}
    command = [sys.executable, "-m", "analysis.cli", "run", str(ROOT / "data_synthetic" / "ips_extract.csv"),
               "--reference", str(ROOT / "data_synthetic" / "reference_population.csv"), "--sites",
               str(ROOT / "data_synthetic" / "making_ips_work_sites.csv"), "--extract-date", "2024-02-27",
               "--disclosure", "none", "--out", str(tmp_path / "out")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert list((tmp_path / "mpl").glob("fontlist-*.json")), "the font cache was not rebuilt"
    for committed in sorted((ROOT / "results" / "figures").glob("*.png")):
        assert filecmp.cmp(tmp_path / "out" / "figures" / committed.name, committed, shallow=False), committed.name


def test_figures_use_only_the_fonts_matplotlib_ships():
    from pathlib import Path as P

    import matplotlib
    from matplotlib import font_manager
    from matplotlib.font_manager import FontProperties

    from analysis import figures

    bundled = P(matplotlib.get_data_path()) / "fonts" / "ttf"
    assert figures.BUNDLED_FONTS == bundled
    assert font_manager.fontManager.ttflist and all(P(f.fname).parent == bundled for f in font_manager.fontManager.ttflist)
    for weight in ("normal", "bold"):
        assert P(font_manager.findfont(FontProperties(weight=weight))).parent == bundled
