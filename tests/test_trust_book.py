"""A trust's book says only its own numbers (#22): rendered for extracts whose every value differs from the
synthetic cohort's, each number in the text is one of that run's results, a constant of the methods, or a
published figure shown as such (on the pages that set them beside the service's own), and no page prints
'suppressed%', 'nan', 'None' or a count as '1235.0'."""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest

from analysis.data.calibration import Calibration
from analysis.cli import main
from analysis.synthetic import generate
from test_reports import visible_text

ROOT = Path(__file__).resolve().parent.parent
NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])\d+(?:\.\d+)?(?![\w])")
STRUCTURE = re.compile(r"\b(?:Table|Figure|Chapter|Appendix|Section|R|S|A|M)\s?[A-Z]?\d+(?:\.\d+)*\b|"
                       r"^\s*\d+(?:\.\d+)*\s|\b\d+(?:\.\d+)+(?= [A-Z][a-z])", re.M)  # numbered headings
# Constants of the methods that the prose names (each a rule, not a result): the time scale (365.25 days,
# 30.44 a month, 12 months, 6, 3, 9, 18), the comparison rule (groups of 10, 5% and 95%, 80% power), the
# disclosure rule (1 to 7 blank, rounding to 5, groups of 8), the funnel's 99.8% limits, IPS-25 and IPS-LITE
# (20 per specialist, 25 to 125, 74 to 99, 100; 9 and 4 months), the equivalence margin (10 points).
CONSTANTS = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "12", "15", "18", "20", "24", "25", "30",
             "50", "80", "95", "99", "99.8", "100", "125", "365", "365.25", "30.44", "1.96", "0.05", "74", "0.5"}
PUBLISHED_PAGES = ("index.html", "benchmarks.html", "capacity.html")  # published figures set beside its own


def decimals(value: float) -> set[str]:
    """A number as a book may print it: whole, or to 1, 2 or 3 decimals, rounded half up, or to 4 significant
    digits (the key-results appendix)."""
    out = {f"{value:.4g}"}
    for places in range(4):
        out.add(str(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)))
    return out


def the_runs_numbers(results: Path) -> set[str]:
    numbers = set()
    for path in results.glob("*.csv"):
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        for text in table.to_numpy().ravel():
            for token in NUMBER.findall(text):
                numbers |= {token.replace(",", "")} | decimals(float(token.replace(",", "")))
            try:
                number = float(text)
            except ValueError:
                continue
            if number == number and abs(number) < 1e12:
                numbers |= decimals(number) | decimals(abs(number)) | decimals(100 * number)
    return numbers


def published_numbers() -> set[str]:
    table = Calibration.read().table
    brief = ("40", "46", "103", "201", "30", "41", "11", "123", "46.5", "12.7", "0.34", "79")  # ../shared/BRIEF.md
    out = set(brief)
    for value in table.loc[table["kind"] == "published", "value"]:
        out |= set(NUMBER.findall(str(value)))
    for text in table.loc[table["kind"] == "published", "source_or_reason"]:
        out |= set(NUMBER.findall(str(text)))
    return out


def other_service(seed: int, people: int = 700) -> Calibration:
    """A calibration whose every headline differs from the synthetic cohort's: `people` people, fewer positive
    outcomes (the ethnic groups' rates scaled by the same factor), other medians, shares and case-load."""
    table = Calibration.read().table.copy()

    def set_value(quantity, characteristic, category, value):
        at = (table["quantity"] == quantity) & (table["characteristic"] == characteristic) & (table["category"] == category)
        assert at.sum() == 1, (quantity, characteristic, category)
        table.loc[at, "value"] = str(value)

    set_value("cohort_n", "all", "all", people)
    set_value("median_days_to_employment", "all", "all", 105)
    set_value("median_days_in_work_support", "all", "all", 119)
    set_value("pct_in_work_support_over_12m", "all", "all", 9.1)
    set_value("pct_not_requiring_time_unlimited_support", "all", "all", 78.3)
    split = {"gained_employment": 150, "retained_employment": 45, "education": 25, "none": 480}
    for outcome, count in split.items():  # in the same shares for any size
        set_value("outcome_count", "outcome", outcome, round(count * people / 700))
    positives = table["quantity"] == "outcome_positive_count"
    table.loc[positives & (table["characteristic"] == "ethnicity"), "value"] = [
        str(round(0.68 * int(v))) for v in table.loc[positives & (table["characteristic"] == "ethnicity"), "value"]]
    cmht = table["quantity"] == "cmht_count"
    table.loc[cmht, "value"] = [str(round(1.6 * int(v))) for v in table.loc[cmht, "value"]]
    set_value("seed", "all", "all", seed)
    return Calibration(table)


def render_trust_book(folder: Path, extract: Path, reference: Path, *extra: str) -> tuple[Path, Path]:
    results, book = folder / "results", folder / "book"
    assert main(["run", str(extract), "--reference", str(reference), "--extract-date", "2024-02-27",
                 "--service-name", "Another NHS Trust", "--out", str(results), *extra]) == 0
    assert main(["report", "--results", str(results), "--out", str(book), "--to", "html"]) == 0  # numbers: the pages
    return results, book


@pytest.fixture(scope="module")
def trust_books(tmp_path_factory):
    books = {}
    folder = tmp_path_factory.mktemp("other")
    extract, reference = generate(other_service(3131))
    extract.to_csv(folder / "extract.csv", index=False)
    reference.to_csv(folder / "cmht.csv", index=False)
    books["generated"] = render_trust_book(folder, folder / "extract.csv", folder / "cmht.csv")
    folder = tmp_path_factory.mktemp("small")  # a small service: many cells blank, the formatting most at risk
    extract, reference = generate(other_service(4242, people=180))
    extract.to_csv(folder / "extract.csv", index=False)
    reference.to_csv(folder / "cmht.csv", index=False)
    books["small"] = render_trust_book(folder, folder / "extract.csv", folder / "cmht.csv")
    examples = ROOT / "examples"
    books["messy export"] = render_trust_book(tmp_path_factory.mktemp("messy"), examples / "messy_export.xlsx",
                                              examples / "messy_cmht.csv", "--mapping",
                                              str(examples / "messy_mapping.yaml"), "--exclude-invalid")
    return books


def borrowed(results: Path, book: Path) -> list[str]:
    own, published = the_runs_numbers(results), published_numbers()
    found = []
    for page in sorted(p for p in book.glob("*.html") if p.name != "references.html"):  # sources: cited as such
        text = STRUCTURE.sub(" ", re.sub(r"https?://\S+|doi:\S+|\b10\.\d{4,}/\S+", " ", visible_text(page)))
        text = re.sub(r"\b(?:19|20)\d\d(?:-\d\d){0,2}\b", " ", text)  # dates, months and years
        text = re.sub(r"\b\d+:\d+\b|ISO 8601|SHA-256", " ", text)  # a journal's volume:page; names of standards
        allowed = own | CONSTANTS | (published if page.name in PUBLISHED_PAGES else set())
        for token in NUMBER.findall(text):
            number = token.replace(",", "")
            if number not in allowed and number.rstrip("0").rstrip(".") not in allowed:
                found.append(f"{page.name}: {token} ...{text[max(text.find(token) - 60, 0):text.find(token) + 20]}")
    return found


@pytest.mark.parametrize("name", ["generated", "small", "messy export"])
def test_every_number_in_a_trusts_book_is_its_own(trust_books, name):
    results, book = trust_books[name]
    assert borrowed(results, book) == []


COUNT_HEADERS = {"n", "Jobs", "Referrals", "In work", "At risk", "Discharged", "Discharges", "Events", "Positive outcome",
                 "IPS n", "CMHT n", "Want work n", "Rows", "People", "First contacts", "Draws"}


@pytest.mark.parametrize("name", ["generated", "small", "messy export"])
def test_no_page_of_a_release_prints_broken_numbers(trust_books, name):
    from test_reports import Tables

    _, book = trust_books[name]
    for page in sorted(book.glob("*.html")):
        text = visible_text(page)
        for pattern in (r"suppressed%", r"\bnan\b", r"\bNaN\b", r"\bNone\b", r"not reached%", r"nan%"):
            assert not re.search(pattern, text), (page.name, pattern, re.search(pattern, text))
        parser = Tables()
        parser.feed(page.read_text(encoding="utf-8"))
        for table in parser.tables:
            counts = [j for j, header in enumerate(table[0]) if header in COUNT_HEADERS] if table else []
            for row in table[1:]:
                for j in counts:
                    assert not re.fullmatch(r"\d[\d,]*\.0", row[j]), (page.name, table[0][j], row[j])


def test_the_methods_table_names_no_number_of_the_synthetic_cohort(trust_books):
    """'Descriptive medians (132 and 146 days)' stood in every trust's methods table."""
    from test_reports import table_with

    _, book = trust_books["generated"]
    methods = table_with(book / "data-methods.html", "Quantity", "Method", "Computed by")
    medians = [row for row in methods[1:] if row[0].startswith("Descriptive medians")]
    assert medians and not re.search(r"\b\d{3}\b", medians[0][0])
