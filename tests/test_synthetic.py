"""The synthetic generator: byte-identical reruns, internal consistency, other sizes keep the proportions."""
import filecmp
from pathlib import Path

import numpy as np
import pytest

from analysis.core import contract as C
from analysis.data.calibration import Calibration
from analysis.cli import main
from analysis.data.load import load_extract
from analysis.data.references import load_reference
from analysis.synthetic import force_median, generate, scale_counts

DATA = Path(__file__).resolve().parent.parent / "data_synthetic"
FILES = ("ips_extract.csv", "reference_population.csv", "making_ips_work_sites.csv")


def test_regenerating_with_the_same_seed_gives_the_committed_files_byte_for_byte(tmp_path):
    assert main(["synth", "--out", str(tmp_path)]) == 0
    for name in FILES:
        assert filecmp.cmp(tmp_path / name, DATA / name, shallow=False), name


def test_a_different_seed_gives_different_people_but_the_same_published_counts(tmp_path):
    cal = Calibration.read()
    a, _ = generate(cal, seed=1)
    b, _ = generate(cal, seed=2)
    assert not a.equals(b)
    for frame in (a, b):
        assert (frame["outcome"] != "none").sum() == 249
        assert frame["ethnicity"].value_counts()["Black"] == 76


def test_the_committed_extract_passes_the_loader_with_the_extract_date():
    data = load_extract(DATA / "ips_extract.csv", "2024-02-27")
    assert len(data) == 539
    assert list(data.columns[: len(C.COLUMN_NAMES)]) == list(C.COLUMN_NAMES)
    reference = load_reference(DATA / "reference_population.csv")
    assert set(reference["characteristic"]) == set(C.FACTORS)


def test_a_larger_extract_keeps_the_proportions_and_the_contract(tmp_path):
    n = 20_000
    assert main(["synth", "--n", str(n), "--seed", "7", "--out", str(tmp_path)]) == 0
    data = load_extract(tmp_path / "ips_extract.csv", "2024-02-27")
    assert len(data) == n
    assert abs((data["outcome"] != "none").mean() - 249 / 539) < 0.001
    gained = data[data["outcome"] == "gained_employment"]
    assert (gained["outcome_date"] - gained["first_contact_date"]).dt.days.median() == 132
    reference = load_reference(tmp_path / "reference_population.csv")
    per_characteristic = reference.groupby("characteristic")["count"].sum()
    assert (abs(100 * n / per_characteristic - 8.7) < 0.05).all()


def test_scale_counts_keeps_the_total_and_the_proportions():
    scaled = scale_counts({"a": 1, "b": 1, "c": 1}, 10)
    assert sum(scaled.values()) == 10 and sorted(scaled.values()) == [3, 3, 4]
    assert scale_counts({"a": 290, "b": 249}, 539) == {"a": 290, "b": 249}


@pytest.mark.parametrize("values", [[1, 2, 3, 200, 300], [100, 150, 160, 170], [5, 9, 131, 140, 150, 500]])
def test_force_median_sets_the_median_exactly(values):
    values = np.array(values)
    moved = force_median(values, 132, upper=np.full(len(values), 1000))
    assert np.median(moved) == 132
    assert (moved != values).sum() <= len(values) // 2 + 1


def test_the_committed_data_dictionary_is_written_from_the_contract():
    from analysis.data.dictionary import markdown

    assert (DATA / "DATA_DICTIONARY.md").read_text(encoding="utf-8") == markdown()
