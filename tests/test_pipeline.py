"""The pipeline end to end: the committed results/ are what the code makes of the committed data, byte for
byte (so they are current and reproducible), and a failed run leaves an earlier good run untouched."""
import filecmp
from pathlib import Path

import psutil
import pytest

from analysis.cli import main

ROOT = Path(__file__).resolve().parent.parent


def files_under(folder: Path) -> list[str]:
    """Files a run writes (results/benchmark.csv and robustness.csv come from `make bench` and `make robustness`)."""
    from analysis.pipeline import KEPT_FILES

    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name not in KEPT_FILES)


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "results"
    assert main(["run", str(ROOT / "data_synthetic" / "ips_extract.csv"), "--reference",
                 str(ROOT / "data_synthetic" / "reference_population.csv"), "--sites",
                 str(ROOT / "data_synthetic" / "making_ips_work_sites.csv"), "--extract-date", "2024-02-27",
                 "--disclosure", "none", "--staffing", str(ROOT / "data_synthetic" / "staffing.csv"),
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


def optional_cpu_features() -> list[str]:
    """numpy's optional vectorised code paths that this CPU takes (AVX2, AVX-512, ...): their log and exp differ
    from the baseline ones in the last bit, as they do on a machine without those instructions."""
    from numpy._core import _multiarray_umath as umath

    return [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f) and f not in umath.__cpu_baseline__]


def run_elsewhere(tmp_path: Path, arguments: list[str]) -> Path:
    """A run in a separate process, as on another machine: a font cache built from scratch (a fresh machine
    builds one from whatever fonts it has; Debian's chromium brings DejaVu and Liberation) and numpy held to
    the baseline CPU instructions."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl"),
           "NPY_DISABLE_CPU_FEATURES": " ".join(optional_cpu_features())}
    done = subprocess.run([sys.executable, "-m", "analysis.cli", "run", *arguments, "--out", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert list((tmp_path / "mpl").glob("fontlist-*.json")), "the font cache was not rebuilt"
    return tmp_path / "out"


def same_figures(one: Path, other: Path) -> None:
    names = sorted(p.name for p in (other / "figures").glob("*.png"))
    assert names and names == sorted(p.name for p in (one / "figures").glob("*.png"))
    for name in names:
        assert filecmp.cmp(one / "figures" / name, other / "figures" / name, shallow=False), name


def test_the_committed_figures_are_the_same_bytes_on_another_machine(tmp_path):
    elsewhere = run_elsewhere(tmp_path, [
        str(ROOT / "data_synthetic" / "ips_extract.csv"), "--reference",
        str(ROOT / "data_synthetic" / "reference_population.csv"), "--sites",
        str(ROOT / "data_synthetic" / "making_ips_work_sites.csv"), "--extract-date", "2024-02-27",
        "--disclosure", "none", "--staffing", str(ROOT / "data_synthetic" / "staffing.csv")])
    same_figures(elsewhere, ROOT / "results")


def test_a_trusts_figures_are_the_same_bytes_on_another_machine(tmp_path):
    examples = ROOT / "examples"
    arguments = [str(examples / "messy_export.csv"), "--mapping", str(examples / "messy_mapping.yaml"),
                 "--reference", str(examples / "messy_cmht.csv"), "--extract-date", "2024-02-27",
                 "--exclude-invalid", "--disclosure", "nhs"]
    assert main(["run", *arguments, "--out", str(tmp_path / "here")]) == 0
    same_figures(run_elsewhere(tmp_path, arguments), tmp_path / "here")


def test_figures_use_only_the_fonts_matplotlib_ships():
    from pathlib import Path as P

    import matplotlib
    from matplotlib import font_manager
    from matplotlib.font_manager import FontProperties

    from analysis.book import figures

    bundled = P(matplotlib.get_data_path()) / "fonts" / "ttf"
    assert figures.BUNDLED_FONTS == bundled
    assert font_manager.fontManager.ttflist and all(P(f.fname).parent == bundled for f in font_manager.fontManager.ttflist)
    for weight in ("normal", "bold"):
        assert P(font_manager.findfont(FontProperties(weight=weight))).parent == bundled
