"""Access against a need-based denominator (the people in the case-load who want work), beside the
case-load comparison: the ratios are IPS shares over the need table's shares, the case-load results do not
move, a release controls the need tables like the case-load ones, and a bad need table is a clear error."""
from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import main
from analysis.data.references import load_reference
from analysis.pipeline import run_analyses

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data_synthetic"
EXTRACT_DATE = pd.Timestamp("2024-02-27")
# Who wants work, as a share of each ethnic group in the case-load: more of the Black and Mixed groups.
WANT_WORK = {"White": 0.3, "Mixed": 0.5, "Asian": 0.35, "Black": 0.5, "Other": 0.3, "Not known": 0.3}


def need_table(folder: Path) -> Path:
    cmht = pd.read_csv(DATA / "reference_population.csv")
    need = cmht[cmht["characteristic"] == "ethnicity"].copy()
    need["count"] = [round(c * WANT_WORK[g]) for g, c in zip(need["category"], need["count"])]
    path = folder / "want_work.csv"
    need.to_csv(path, index=False)
    return path


def test_need_ratios_are_ips_shares_over_the_need_shares_beside_the_case_load_ones(synthetic, tmp_path):
    reference = load_reference(DATA / "reference_population.csv")
    need = load_reference(need_table(tmp_path))
    with_need, tables = run_analyses(synthetic, EXTRACT_DATE, reference, None, need)
    without, _ = run_analyses(synthetic, EXTRACT_DATE, reference)
    rows = with_need.set_index(["measure", "factor", "level"])["value"]
    known = synthetic[synthetic["ethnicity"] != "Not known"]["ethnicity"].astype(str).value_counts()
    wanting = need.set_index("category")["count"].drop("Not known")
    for group in ("Black", "Asian", "Mixed", "Other", "White"):
        expected = (known[group] / known.sum()) / (wanting[group] / wanting.sum())
        assert rows[("need_representation_ratio", "ethnicity", group)] == pytest.approx(expected, rel=1e-12)
    assert rows[("need_reach_pct", "all", "all")] == pytest.approx(100 * len(synthetic) / need["count"].sum())
    assert set(tables["access_need_composition"]["characteristic"]) == {"ethnicity"}  # only what the table has
    case_load = with_need[~with_need["measure"].str.startswith("need_")].reset_index(drop=True)
    pd.testing.assert_frame_equal(case_load, without.reset_index(drop=True))


def test_a_release_controls_the_need_tables_and_their_key_rows_alike(tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(DATA / "ips_extract.csv"), "--reference", str(DATA / "reference_population.csv"),
                 "--need", str(need_table(tmp_path)), "--extract-date", "2024-02-27", "--no-figures",
                 "--out", str(out)]) == 0
    composition = pd.read_csv(out / "access_need_composition.csv")
    counts = pd.concat([composition["ips_n"], composition["cmht_n"]]).dropna()
    assert (counts % 5 == 0).all()  # rounded to 5, none from 1 to 7 shown
    key = pd.read_csv(out / "key_results.csv")
    ratios = key[key["measure"] == "need_representation_ratio"].set_index("level")["value"]
    shown = composition.set_index("category")["representation_ratio"].dropna()
    assert len(shown) >= 4 and ratios.reindex(shown.index).tolist() == pytest.approx(shown.tolist(), rel=1e-9)
    # recomputed from the rounded counts printed beside it, as every statistic in a release is
    known = composition[composition["category"] != "Not known"]
    black = known.set_index("category").loc["Black"]
    expected = (black["ips_n"] / known["ips_n"].sum()) / (black["cmht_n"] / known["cmht_n"].sum())
    assert black["representation_ratio"] == pytest.approx(expected, rel=1e-9)
    log = pd.read_csv(out / "disclosure_log.csv")
    verdicts = log[(log["action"] == "verdict") & log["file"].str.startswith("access_need")]
    assert len(verdicts) == 3 and verdicts["rule"].str.startswith("safe to release").all()
    assert pd.read_csv(out / "run_info.csv").set_index("item").loc["need", "value"] == "want_work.csv"


def test_a_bad_need_table_names_its_file_row_and_column(tmp_path, capsys):
    path = need_table(tmp_path)
    path.write_text(path.read_text().replace("Black", "Blak"))
    assert main(["run", str(DATA / "ips_extract.csv"), "--reference", str(DATA / "reference_population.csv"),
                 "--need", str(path), "--extract-date", "2024-02-27", "--out", str(tmp_path / "out")]) != 0
    message = capsys.readouterr().err
    assert "want_work.csv" in message and "category" in message and "Blak" in message
    assert not (tmp_path / "out").exists()
