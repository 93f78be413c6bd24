"""The rendered book: current with the results, free of errors, every figure, table and key number present,
every internal link leading somewhere in a real browser, and no table row lost from the PDF. Rendering
takes ~15 s, done once for the module."""
import filecmp
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from analysis.book.render import Book, render
from analysis.book import labels
from analysis.book.reporting import Results, anchor, fmt

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "reports" / "_output"
PAGES = {"index": 0, "multiplicity": 0, "data-methods": 0, "employment": 5, "in-work-support": 5, "capacity": 1,
         "access": 1, "outcome": 1, "sensitivity": 0, "sites": 2, "benchmarks": 0, "robustness": 0, "disclosure": 0,
         "key-results": 0, "references": 0}  # figures per page
PDF = "ips-outcomes.pdf"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
RAW_IDENTIFIER = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")  # outcome_rate_pct, age_band, cohort_n


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "out"
    params = {"results_dir": str(ROOT / "results"),
              "service_name": "Synthetic IPS service calibrated to Rinaldi et al. (2024)", "extract_date": "2024-02-27"}
    renderer, written = render(out, params, progress=lambda message: None)
    assert renderer.startswith("fallback") or renderer == "quarto"
    return out


def visible_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8").replace("’", "'")  # pandoc curls apostrophes
    text = re.sub(r"<details.*?</details>", " ", text, flags=re.S)  # folded code is not output
    text = re.sub(r"<(script|style|code)\b.*?</\1>", " ", text, flags=re.S)  # file and column names are code
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


class Tables(HTMLParser):
    """Every table of an HTML page as rows of cell texts (the caption left out)."""

    def __init__(self):
        super().__init__()
        self.tables, self.cell, self.in_caption = [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "caption":
            self.in_caption = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "caption":
            self.in_caption = False

    def handle_data(self, data):
        if self.cell is not None and not self.in_caption:
            self.cell.append(data)


def words(text: str) -> list[str]:
    """Runs of letters and digits, lower case: the same from HTML and from PDF text, where a line may break
    after a hyphen or an underscore (YYYY-MM-DD, first_contact_date)."""
    return re.findall(r"[0-9a-z]+", text.lower())


def test_the_book_renders_one_page_per_chapter_and_one_pdf(rendered):
    chapters = Book.read().chapters
    assert [c.stem for c in chapters] == list(PAGES)
    assert sorted(p.name for p in rendered.iterdir()) == sorted([f"{s}.html" for s in PAGES] + [PDF])


def test_committed_reports_are_current_byte_for_byte(rendered):
    for path in sorted(rendered.iterdir()):
        assert filecmp.cmp(path, COMMITTED / path.name, shallow=False), f"reports/_output/{path.name} is stale: run `make`"
    assert sorted(p.name for p in COMMITTED.iterdir()) == sorted(p.name for p in rendered.iterdir())


def test_no_error_traceback_warning_nan_none_or_raw_identifier_in_the_output(rendered):
    check_no_error_text(rendered)


def check_no_error_text(folder: Path) -> None:
    """No error, traceback, warning, nan, None, unresolved reference or raw identifier on any page."""
    for path in folder.glob("*.html"):
        text = visible_text(path)
        text = re.sub(r"https?://\S+", " ", text)  # an address may hold underscores (research_reports)
        for pattern in (r"Traceback", r"\b\w+Error\b", r"\bException\b", r"\bWarning\b", r"\bnan\b", r"\bNaN\b",
                        r"\bNone\b", r"\?@", RAW_IDENTIFIER.pattern):
            assert not re.search(pattern, text), (path.name, pattern, re.search(pattern, text))


def test_every_figure_is_embedded_numbered_and_referenced(rendered):
    check_figures(rendered, PAGES)


def check_figures(folder: Path, pages: dict[str, int]) -> None:
    """Each page has its number of figures, embedded, numbered, each cited in the text."""
    for stem, count in pages.items():
        html = (folder / f"{stem}.html").read_text(encoding="utf-8")
        images = re.findall(r"<img\s[^>]*?src=\"([^\"]{0,40})", html)
        assert len(images) == count, stem
        assert all(src.startswith("data:image/png;base64,") for src in images), stem
        captions = re.findall(r"<figcaption[^>]*>\s*Figure (\d+\.\d+):", html)
        assert len(captions) == count, stem
        for figure_id in re.findall(r"<figure id=\"(fig-[^\"]+)\"", html):  # each figure is cited in the text
            assert re.search(rf"href=\"(?:{stem}\.html)?#{figure_id}\"", html), (stem, figure_id)


def test_tables_are_numbered_by_chapter(rendered):
    numbers = []
    for stem in PAGES:
        html = (rendered / f"{stem}.html").read_text(encoding="utf-8")
        numbers += re.findall(r"<caption>\s*(?:<p>)?\s*Table ([\dA-Z.]+):", html)
    assert len(numbers) == len(set(numbers)) > 25
    assert {"1", "2.1", "A.1"} <= set(numbers)  # the overview (unnumbered), chapter 2, appendix A


def test_key_numbers_in_the_html_equal_key_results_and_link_to_their_row(rendered):
    results = Results(ROOT / "results")
    index_html = (rendered / "index.html").read_text(encoding="utf-8")
    index = visible_text(rendered / "index.html")
    for measure, factor, level, digits in [("outcome_rate_pct", "all", "all", 1), ("median_days_to_employment", "all", "all", 0),
                                           ("median_days_in_work_support", "all", "all", 0), ("reach_pct", "all", "all", 1),
                                           ("pct_in_work_support_over_12m", "all", "all", 1),
                                           ("pct_not_requiring_time_unlimited_support", "all", "all", 1),
                                           ("cif_employment_pct", "months", "6", 1), ("cif_employment_pct", "months", "12", 1)]:
        shown = fmt(results.row(measure, factor, level)["value"], digits)
        assert shown in index, measure
        link = re.search(rf"<a\s+href=\"key-results\.html#{anchor(measure, factor, level)}\"[^>]*>(.*?)</a>", index_html, re.S)
        assert link and shown in link.group(1), measure
    assert re.search(r"(\d+) of \1 published figures and claims match", index)
    # the count is the table's: each row of the reproduction table is one figure or claim, each matched
    matched = re.search(r"(\d+) of (\d+) published figures and claims match", index)
    assert int(matched.group(2)) == len(table_with(rendered / "index.html", "Verdict", "Basis")) - 1
    outcome = visible_text(rendered / "outcome.html")
    for group in ("Mixed", "Asian", "Black"):
        assert fmt(results.row("outcome_rate_pct", "ethnicity", group)["value"], 1) in outcome
    assert results.fingerprint() in index
    key_page = (rendered / "key-results.html").read_text(encoding="utf-8")
    assert all(f'id="{anchor(*r)}"' in key_page for r in results.key[["measure", "factor", "level"]].itertuples(index=False))


def test_every_internal_link_leads_somewhere_in_a_real_browser(rendered):
    """Open every page; follow every link within the book; each lands on a page and on its target element.
    No console error, no broken image, nothing fetched from outside the folder."""
    check_links_in_browser(rendered, list(PAGES), min_links=80)


def check_links_in_browser(rendered: Path, stems: list[str], min_links: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        problems, requests = [], []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        links = set()
        for stem in stems:
            page.goto((rendered / f"{stem}.html").as_uri(), wait_until="load")
            assert page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length") == 0
            assert page.evaluate("document.querySelectorAll('#sidebar a').length") == len(stems) + 2, stem
            hrefs = page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
            links.update(h for h in hrefs if h.startswith("file:") and not h.endswith(".pdf"))
            pdfs = [h for h in hrefs if h.endswith(".pdf")]
            assert pdfs and all((rendered / h.rsplit("/", 1)[1]).exists() for h in pdfs), stem
        assert len(links) > min_links
        for link in sorted(links):
            page.goto(link, wait_until="load")
            target = link.split("#", 1)[1] if "#" in link else None
            assert page.url.split("#")[0] == link.split("#")[0], link
            if target:
                assert page.evaluate("id => document.getElementById(decodeURIComponent(id)) !== null", target), link
        assert problems == []
        assert all(u.startswith(("file:", "data:")) for u in requests), [u for u in requests if not u.startswith(("file:", "data:"))]
        browser.close()


def test_overview_screenshot(rendered, image_regression):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1400})
        page.goto((rendered / "index.html").as_uri(), wait_until="load")
        shot = page.screenshot(full_page=False)
        browser.close()
    image_regression.check(shot, diff_threshold=1.0, basename="overview")


@pytest.fixture(scope="module")
def pdf(rendered):
    reader = PdfReader(rendered / PDF)
    return reader, [page.extract_text() for page in reader.pages]


def test_the_pdf_has_a_contents_list_every_chapter_and_every_figure(rendered, pdf):
    reader, pages = pdf
    assert 30 < len(reader.pages) < 120
    assert "Contents" in pages[1]
    assert sum(len(page.images) for page in reader.pages) == sum(PAGES.values())
    text = " ".join(" ".join(pages).split()).replace("’", "'")
    for stem in PAGES:
        html = (rendered / f"{stem}.html").read_text(encoding="utf-8")
        for heading in re.findall(r"<h[12][^>]*>(.*?)</h[12]>", html, re.S):
            title = " ".join(re.sub(r"<[^>]+>", "", heading).split()).replace("’", "'")
            assert title in text, (stem, title)
    assert "Traceback" not in text and "?@" not in text


def overprinted(path: Path, tolerance: float = 1.5) -> list[tuple[int, str]]:
    """Lines of the PDF where text is printed over other text: two or more pairs of neighbouring characters
    overlapping by more than `tolerance` points (one pair is a glyph's own overhang, the tail of a Q; a
    ligature's two characters share one glyph). A line is the characters whose centres (by the font's height)
    lie within a third of a line of each other; a character's width is its glyph's."""
    import pypdfium2

    found = []
    document = pypdfium2.PdfDocument(str(path))
    for number in range(len(document)):
        text = document[number].get_textpage()
        chars = []
        for i in range(text.count_chars()):
            if text.get_text_range(i, 1).strip():
                _, bottom, _, top = text.get_charbox(i, loose=True)
                left, _, right, _ = text.get_charbox(i)
                chars.append(((bottom + top) / 2, left, right, top - bottom, i))
        lines, current = [], []
        for char in sorted(chars):
            if current and char[0] - current[0][0] > current[0][3] / 3:
                lines.append(current)
                current = []
            current.append(char)
        lines += [current] if current else []
        for line in lines:
            line.sort(key=lambda c: c[1])
            over = [a for a, b in zip(line, line[1:]) if (a[1], a[2]) != (b[1], b[2]) and b[1] < a[2] - tolerance]
            if len(over) >= 2:
                found.append((number + 1, text.get_text_range(max(over[0][4] - 12, 0), 24)))
    return found


def run_together(path: Path) -> list[tuple[int, str]]:
    """Two table cells printed with no space between them: a ratio at 2 decimals run into the p-value after it
    ('1.630.805' for 1.63 and 0.805), in the PDF's text."""
    import pypdfium2

    found = []
    document = pypdfium2.PdfDocument(str(path))
    for number in range(len(document)):
        text = document[number].get_textpage()
        page = text.get_text_range(0, text.count_chars())
        found += [(number + 1, m.group()) for m in re.finditer(r"(?<![\d.])\d+\.\d\d\d+\.\d\d\d?(?![\d.])", page)]
    return found


def test_no_text_is_printed_over_or_into_other_text_in_the_pdf(rendered):
    """The committed PDF before these checks ran table cells together (Table 2.10's '1.630.805', 29 times) and
    printed over its neighbours five times (an identifier of the contract table, a robustness header); the
    same checks find each of them there."""
    assert overprinted(rendered / PDF) == []
    assert run_together(rendered / PDF) == []


def found_at(text: str, row: list[str], position: int) -> int | None:
    """Where a row starts in the PDF's letters and digits: the first place at or after `position` where
    its first word begins and all its words follow within a stretch of twice the row's length plus 200
    characters (a page foot and a repeated table header may fall inside a row that breaks across pages;
    wrapped cells interleave their lines; PDF text runs adjacent cells together, so words are matched
    as substrings)."""
    need = Counter(row)
    stretch = 2 * sum(map(len, row)) + 200
    start = text.find(row[0], position)
    while start >= 0:
        window = text[start:start + stretch]
        if all(window.count(word) >= count for word, count in need.items()):
            return start
        start = text.find(row[0], start + 1)
    return None


def test_every_table_row_of_the_book_is_in_the_pdf(rendered, pdf):
    """Each row of each HTML table is found in the PDF text, in order, its words within a stretch of the
    PDF not much longer than the row: a row that is lost, cut off or printed over another is not found."""
    assert table_rows_in_pdf(rendered, list(PAGES), pdf[1]) > 400


def table_rows_in_pdf(rendered: Path, stems: list[str], pages: list[str]) -> int:
    """Checks every table row of the pages' HTML in the PDF's text (pages), in order; returns how many."""
    text = "".join(words(" ".join(pages)))
    position, checked = 0, 0
    for stem in stems:
        parser = Tables()
        parser.feed((rendered / f"{stem}.html").read_text(encoding="utf-8"))
        for table in parser.tables:
            for row in table:
                row_words = words(" ".join(row))
                if not row_words:
                    continue
                start = found_at(text, row_words, position)
                assert start is not None, (stem, row, "not found in the PDF after word", position)
                position, checked = start + 1, checked + 1
    return checked


def test_a_contrary_extract_changes_the_sentences_that_interpret_it(tmp_path):
    """Prose follows the numbers. A contrary extract: sites whose job rates differ by no more than chance;
    everyone with the diagnosis 'Other' and no outcome given a job within three weeks (so the Fine-Gray and
    Cox intervals for Other vs Psychosis exclude 1); in-work support lasting 30 to 329 days at random, whoever
    the person (so no group differs in time to discharge); a need table in which fewer White people want work. The synthetic book
    says the opposite of each."""
    from analysis.cli import main

    data = ROOT / "data_synthetic"
    sites = pd.read_csv(data / "making_ips_work_sites.csv")
    sites["referrals"], sites["jobs"] = 200, [70, 72, 68, 74, 71, 69]  # rates 34% to 37%: chance alone
    sites.to_csv(tmp_path / "sites.csv", index=False)
    extract = pd.read_csv(data / "ips_extract.csv", parse_dates=["first_contact_date", "outcome_date", "discharge_date"])
    other = (extract["diagnosis"] == "Other") & (extract["outcome"] == "none")
    extract.loc[other, "outcome"] = "gained_employment"
    extract.loc[other, "outcome_date"] = extract.loc[other, "first_contact_date"] + pd.Timedelta(days=20)
    in_work = extract["outcome"].isin(["gained_employment", "retained_employment"])
    rng = np.random.default_rng(2)  # support of 30 to 329 days whoever you are (a seed with no chance finding)
    end = extract["outcome_date"] + pd.to_timedelta(rng.integers(30, 330, len(extract)), unit="D")
    extract.loc[in_work, "discharge_date"] = end.where(end <= pd.Timestamp("2024-02-27"))[in_work]
    extract.to_csv(tmp_path / "extract.csv", index=False, date_format="%Y-%m-%d")
    need = pd.read_csv(data / "reference_population.csv")  # a need table: fewer White people want work
    need = need[need["characteristic"] == "ethnicity"].assign(count=lambda t: t["count"] // 2)
    need.loc[need["category"] == "White", "count"] //= 4
    need.to_csv(tmp_path / "want_work.csv", index=False)
    assert main(["run", str(tmp_path / "extract.csv"), "--need", str(tmp_path / "want_work.csv"), "--reference", str(data / "reference_population.csv"),
                 "--sites", str(tmp_path / "sites.csv"), "--extract-date", "2024-02-27", "--disclosure", "none",
                 "--no-figures", "--out", str(tmp_path / "results")]) == 0
    summary = pd.read_csv(tmp_path / "results" / "sites_summary.csv").iloc[0]
    assert summary["chi2_p"] > 0.5
    assert main(["report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "book"), "--to", "html"]) == 0
    # `--to html`: the pages alone, and no link to a PDF that was not rendered
    assert not list((tmp_path / "book").glob("*.pdf"))
    assert ".pdf" not in (tmp_path / "book" / "index.html").read_text() and ".pdf" in (COMMITTED / "index.html").read_text()
    contrary = visible_text(tmp_path / "book" / "sites.html")
    assert "finds no difference beyond chance" in contrary and "more than chance" not in contrary
    published = visible_text(COMMITTED / "sites.html")
    assert "the sites differ by more than chance alone would give" in published
    fine_gray = pd.read_csv(tmp_path / "results" / "competing_fine_gray.csv")
    assert ((fine_gray["conf_low"] > 1) & fine_gray["term"].str.contains("Other vs")).any()
    contrary = visible_text(tmp_path / "book" / "employment.html")
    assert "exclude 1 for Diagnosis: Other vs Psychosis" in contrary
    assert "no 95% CI, subdistribution or cause-specific, excludes a hazard ratio of 1" in visible_text(
        COMMITTED / "employment.html")
    contrary = visible_text(tmp_path / "book" / "in-work-support.html")
    assert "No log-rank test finds a difference at the 5% level" in contrary and "excludes 1 for" not in contrary
    published = visible_text(COMMITTED / "in-work-support.html")
    assert "excludes 1 for" in published and "with no correction for multiple comparisons" in published
    contrary = visible_text(tmp_path / "book" / "access.html")
    assert "this run was given one" in contrary and "above 1: Ethnicity White" in contrary  # fewer White want work
    assert "this run was given none" in visible_text(COMMITTED / "access.html")


def table_with(page: Path, *headers: str) -> list[list[str]]:
    """The one table of a page whose header row has all these headers."""
    parser = Tables()
    parser.feed(page.read_text(encoding="utf-8"))
    found = [t for t in parser.tables if t and all(h in t[0] for h in headers)]
    assert len(found) == 1, (page.name, headers, len(found))
    return found[0]


def test_a_pivoted_table_has_the_rows_of_its_file_and_no_others(rendered):
    """Table 2.10 once listed 204 rows, 141 of them impossible pairs such as 'Ethnicity | Male' (a pivot over
    every combination of factor, level and cause): each row must be a row of competing_by_group.csv."""
    table = table_with(rendered / "employment.html", "First event", "6 months", "12 months")
    csv = pd.read_csv(ROOT / "results" / "competing_by_group.csv")
    expected = {(labels.factor(f), str(level), cause) for f, level, cause in zip(csv["factor"], csv["level"], csv["cause"])}
    shown = [tuple(row[:3]) for row in table[1:]]
    assert len(shown) == len(set(shown)) == len(expected) and set(shown) == expected


def test_the_key_results_say_what_each_interval_is(rendered):
    """Quartiles were printed under '95% CI' for the descriptive medians, and the in-work rows by month were
    labelled 'Months since first contact'."""
    table = table_with(rendered / "key-results.html", "Interval", "Low", "High")
    header = table[0]
    rows = {(r[header.index("Measure")], r[header.index("Group")]): r for r in table[1:]}
    median = rows[(labels.measure("median_days_to_employment"), "All")]
    assert median[header.index("Interval")] == "quartiles"
    assert rows[(labels.measure("cif_employment_pct"), "Months since first contact: 12")][header.index("Interval")] == "95% CI"
    assert (labels.measure("km_pct_still_supported"), "Months since job start: 12") in rows
    assert not any(g.startswith("Months since first contact") and "supported" in m.lower() for m, g in rows)


def test_the_access_chapter_sets_the_paper_test_beside_the_corrected_one(rendered):
    text = visible_text(rendered / "access.html")
    assert "in ethnicity and age" not in text  # the paper says ethnicity only
    table = table_with(rendered / "access.html", "Test", "Compared with", "Chi-squared")
    tests = [row[table[0].index("Test")] for row in table[1:]]
    assert tests.count("as published") == tests.count("corrected") == 4
    groups = table_with(rendered / "access.html", "Unadjusted CI shows", "Holm p", "After Holm")
    assert len(groups) > 1
    assert "Why the two tests differ" in text and "a flow over a snapshot" in text


def test_no_placeholder_reference_is_left(rendered):
    text = visible_text(rendered / "references.html")
    for placeholder in ("Not Given", "not given", "n.d.", "[", "Source"):
        assert placeholder not in text, placeholder
    for cited in ("Bond", "Vukadin", "IPS Grow", "RAND Europe"):
        assert cited in text


def test_each_chapter_sees_only_its_own_names(tmp_path):
    """The book's one kernel is reset before each chapter, as Quarto runs each in a kernel of its own: a name
    set in one chapter is there for its later cells and inline expressions, and gone in the next chapter, with
    the outputs cached from the one before (Out, _)."""
    book = tmp_path / "book"
    book.mkdir()
    (book / "_quarto.yml").write_text("book:\n  title: Two chapters\n  chapters: [index.qmd, second.qmd]\n"
                                      "format:\n  html:\n    css: style.css\n  typst:\n    include-in-header: h.typ\n")
    (book / "style.css").write_text("")
    (book / "h.typ").write_text("")
    (book / "index.qmd").write_text("# One {#sec-index}\n\n<!-- a note for the authors -->\n\n```{python}\n"
                                    "secret = 41\nsecret\n```\n\n```{python}\nprint(secret + 1)\n```\n\n"
                                    "Inline: `{python} secret`.\n")
    (book / "second.qmd").write_text("# Two {#sec-second}\n\n```{python}\nprint('secret' in dir(), len(Out), repr(_))\n"
                                     "```\n")
    renderer, _ = render(tmp_path / "out", {}, reports_dir=book, formats=("html",), progress=lambda message: None)
    pages = {p.name: p.read_text() for p in (tmp_path / "out").glob("*.html")}
    assert "<code>42\n" in pages["index.html"] and "Inline: 41." in pages["index.html"]
    assert "<code>False 0 &#39;&#39;\n" in pages["second.html"]
    assert "a note for the authors" not in pages["index.html"]  # an HTML comment stays invisible, as in Quarto
