import shutil
import subprocess
from pathlib import Path

import analysis  # noqa: F401  (first: it sets the BLAS threads, as a run has them, before numpy loads)
import numpy as np
import pandas as pd
import pytest

from analysis.data.load import load_extract

ROOT = Path(__file__).resolve().parent.parent
EXTRACT_DATE = pd.Timestamp("2024-02-27")


def r_prints(script: Path, *args, missing: str) -> str:
    """What an R reference script prints today. Skips only where R, or the R packages `missing` names, are
    not installed (CI installs neither; the checks on the committed output run anyway); any other R error
    fails, with R's message."""
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript is not installed")
    done = subprocess.run(["Rscript", str(script), *map(str, args)], capture_output=True, text=True)
    if "there is no package called" in done.stderr:
        pytest.skip(f"{missing} is not installed")
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="session")
def synthetic() -> pd.DataFrame:
    return load_extract(ROOT / "data_synthetic" / "ips_extract.csv", EXTRACT_DATE)


@pytest.fixture(scope="session")
def analysed(synthetic):
    from analysis.data.references import load_reference, load_sites
    from analysis.pipeline import run_analyses

    data = ROOT / "data_synthetic"
    return run_analyses(synthetic, EXTRACT_DATE, load_reference(data / "reference_population.csv"),
                        load_sites(data / "making_ips_work_sites.csv"))


ROW_KEYS = ("measure", "model", "factor", "level", "term", "characteristic", "category", "site", "months")


def changed_values(baseline: pd.DataFrame, current: pd.DataFrame, rtol: float = 1e-9, atol: float = 1e-12) -> list[str]:
    """Each value that differs from the baseline, named by its row (measure, factor, level, ...) and column."""
    keys = [k for k in ROW_KEYS if k in current.columns and k in baseline.columns]
    lines = []
    if len(baseline) != len(current):
        lines.append(f"rows: {len(baseline)} -> {len(current)}")
    for i in range(min(len(baseline), len(current))):
        name = ", ".join(str(current[k].iloc[i]) for k in keys) or f"row {i + 1}"
        for column in current.columns:
            if column not in baseline.columns:
                continue
            old, new = baseline[column].iloc[i], current[column].iloc[i]
            blank = lambda v: pd.isna(v) or v == ""  # noqa: E731  (a CSV reads an empty text back as NaN)
            if blank(old) and blank(new):
                continue
            try:
                same = bool(np.isclose(float(old), float(new), rtol=rtol, atol=atol))
            except (TypeError, ValueError):
                same = str(old) == str(new)
            if not same:
                lines.append(f"{name}: {column}: {old} -> {new}")
    for column in sorted(set(current.columns) ^ set(baseline.columns)):
        lines.append(f"column {column}: {'added' if column in current.columns else 'removed'}")
    return lines


class _NamedRegression:
    """pytest-regressions' dataframe check, whose failure names every changed value and the README's
    command for accepting them on purpose (`make regen`), instead of a pytest flag."""

    def __init__(self, fixture, test_file: Path):
        self.fixture, self.folder = fixture, test_file.with_suffix("")

    def check(self, frame: pd.DataFrame, basename: str, **kwargs) -> None:
        try:
            self.fixture.check(frame, basename=basename, **kwargs)
        except AssertionError:
            baseline = pd.read_csv(self.folder / f"{basename}.csv", index_col=0)  # the index pytest-regressions writes
            tolerance = kwargs.get("default_tolerance", {})
            lines = changed_values(baseline, frame.reset_index(drop=True), **tolerance)
            shown = lines[:40] + ([f"... and {len(lines) - 40} more"] if len(lines) > 40 else [])
            raise AssertionError(
                f"{len(lines)} regression value(s) changed in {basename} (measure, factor, level: old -> new):\n  "
                + "\n  ".join(shown) + "\nIf the change is meant (an assumption or a method changed), run `make regen` "
                "and say why in the commit message.") from None


@pytest.fixture
def dataframe_regression(dataframe_regression, request):
    return _NamedRegression(dataframe_regression, Path(request.path))
