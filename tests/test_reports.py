"""The rendered reports: current with the results, free of errors, every figure and key number present,
clean in a real browser, and the PDFs complete. Rendering takes ~20 s, done once for the module."""
import filecmp
import re
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader

from analysis.render import documents, render
from analysis.reporting import Results, fmt

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "reports" / "_output"
FIGURES = {"employment": 5, "in-work-support": 5, "access": 1, "outcome": 1, "sites": 1,
           "index": 0, "data-methods": 0, "benchmarks": 0, "disclosure": 0}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "out"
    params = {"results_dir": str(ROOT / "results"),
              "service_name": "Synthetic IPS service calibrated to Rinaldi et al. (2024)", "extract_date": "2024-02-27"}
    renderer, written = render(out, params, progress=lambda message: None)
    assert renderer.startswith("fallback") or renderer == "quarto"
    return out


def visible_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<details.*?</details>", " ", text, flags=re.S)  # folded code is not output
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
    return re.sub(r"<[^>]+>", " ", text)


def test_every_document_renders_to_html_and_pdf(rendered):
    stems = [q.stem for q in documents()]
    assert sorted(p.name for p in rendered.iterdir()) == sorted([f"{s}.html" for s in stems] + [f"{s}.pdf" for s in stems])


def test_committed_reports_are_current_byte_for_byte(rendered):
    for path in sorted(rendered.iterdir()):
        assert filecmp.cmp(path, COMMITTED / path.name, shallow=False), f"reports/_output/{path.name} is stale: run `make`"


def test_no_error_traceback_warning_or_nan_in_the_output(rendered):
    for path in rendered.glob("*.html"):
        text = visible_text(path)
        for pattern in (r"Traceback", r"\b\w+Error\b", r"\bException\b", r"\bWarning\b", r"\bnan\b", r"\bNaN\b"):
            assert not re.search(pattern, text), (path.name, pattern, re.search(pattern, text))


def test_every_figure_is_embedded(rendered):
    for stem, count in FIGURES.items():
        html = (rendered / f"{stem}.html").read_text(encoding="utf-8")
        images = re.findall(r"<img [^>]*src=\"([^\"]{0,40})", html)
        assert len(images) == count, stem
        assert all(src.startswith("data:image/png;base64,") for src in images), stem
        assert html.count("<figcaption") == count, stem


def test_key_numbers_in_the_html_equal_key_results(rendered):
    results = Results(ROOT / "results")
    index = visible_text(rendered / "index.html")
    for measure, factor, level, digits in [("outcome_rate_pct", "all", "all", 1), ("median_days_to_employment", "all", "all", 0),
                                           ("median_days_in_work_support", "all", "all", 0), ("reach_pct", "all", "all", 1),
                                           ("pct_in_work_support_over_12m", "all", "all", 1),
                                           ("pct_not_requiring_time_unlimited_support", "all", "all", 1),
                                           ("cif_employment_pct", "months", "6", 1), ("cif_employment_pct", "months", "12", 1)]:
        assert fmt(results.row(measure, factor, level)["value"], digits) in index, measure
    assert "20 of 20 published figures match" in index or re.search(r"(\d+) of \1 published figures match", index)
    outcome = visible_text(rendered / "outcome.html")
    for group in ("Mixed", "Asian", "Black"):
        assert fmt(results.row("outcome_rate_pct", "ethnicity", group)["value"], 1) in outcome
    assert results.fingerprint() in index


def test_html_is_self_contained_and_clean_in_a_real_browser(rendered):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for path in sorted(rendered.glob("*.html")):
            page = browser.new_page()
            problems, requests = [], []
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri(), wait_until="load")
            broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length")
            assert problems == [], (path.name, problems)
            assert broken == 0, path.name
            assert all(u.startswith(("file:", "data:")) for u in requests), (path.name, requests)
            page.close()
        browser.close()


def test_overview_screenshot(rendered, image_regression):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        page.goto((rendered / "index.html").as_uri(), wait_until="load")
        shot = page.screenshot(full_page=False)
        browser.close()
    image_regression.check(shot, diff_threshold=1.0, basename="overview")


@pytest.mark.parametrize("stem", list(FIGURES))
def test_pdf_has_its_pages_sections_and_figures(rendered, stem):
    reader = PdfReader(rendered / f"{stem}.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 1 + (FIGURES[stem] > 0)
    images = sum(len(page.images) for page in reader.pages)
    assert images == FIGURES[stem], stem
    html = (rendered / f"{stem}.html").read_text(encoding="utf-8")
    for heading in re.findall(r"<h2[^>]*>(.*?)</h2>", html):
        words = re.sub(r"<[^>]+>", "", heading).split()[:2]
        assert " ".join(words).replace("’", "'") in text.replace("’", "'").replace("\n", " "), (stem, heading)
    assert "Traceback" not in text
