from pathlib import Path

import pandas as pd
import pytest

from analysis.load import load_extract

ROOT = Path(__file__).resolve().parent.parent
EXTRACT_DATE = pd.Timestamp("2024-02-27")


@pytest.fixture(scope="session")
def synthetic() -> pd.DataFrame:
    return load_extract(ROOT / "data_synthetic" / "ips_extract.csv", EXTRACT_DATE)


@pytest.fixture(scope="session")
def analysed(synthetic):
    from analysis.load import load_reference, load_sites
    from analysis.pipeline import run_analyses

    data = ROOT / "data_synthetic"
    return run_analyses(synthetic, EXTRACT_DATE, load_reference(data / "reference_population.csv"),
                        load_sites(data / "making_ips_work_sites.csv"))
