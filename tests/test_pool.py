"""`ips-analysis pool`: each service's estimates come from its released numbers only, a blanked value is left
out (never a zero), the pooling equals statsmodels and R's metafor (committed output) to 1e-8, bad input is
refused with one clear line, the committed worked examples are current byte for byte, and the pooled book
passes the checks of the service's book. The four releases are `make pool`'s, committed in pooled/releases/."""
import filecmp
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader
from statsmodels.stats.meta_analysis import combine_effects

from conftest import r_prints
from analysis.stats import meta
from analysis import pool
from analysis.cli import main
from analysis.book.reporting import anchor, fmt
from test_reports import check_figures, check_links_in_browser, check_no_error_text, table_rows_in_pdf, visible_text

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).with_suffix("")
RELEASES = [Path("pooled/releases") / s for s in "ABCD"]  # relative, as `make pool` gives them
FIDELITY = Path("examples/pool_fidelity.csv")
Z95 = 1.959963984540054
PAGES = {"index": 0, "rates": 5, "ratios": 4, "fidelity": 1, "methods": 0, "key-results": 0, "references": 0}
COMPARED = ["mu", "se", "conf_low", "conf_high", "tau2", "i2", "q", "q_p", "pi_low", "pi_high"]


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def services():
    return sorted((pool.read_release(ROOT / f) for f in RELEASES), key=lambda s: s.name)


@pytest.fixture(scope="module")
def estimates(services):
    return pool.service_estimates(services)


def group(estimates: pd.DataFrame, measure: str, factor: str = "all", level: str = "all") -> pd.DataFrame:
    rows = estimates[(estimates["measure"] == measure) & (estimates["factor"] == factor) & (estimates["level"] == level)]
    return rows[rows["entered"]]


def close(a, b, rtol=1e-8, atol=0.0) -> bool:
    return bool(np.isclose(a, b, rtol=rtol, atol=atol) or (np.isnan(a) and np.isnan(b)))


# --- stage one: released numbers only ------------------------------------------------------------------------

def test_each_estimate_is_computed_from_the_numbers_its_release_publishes(services, estimates):
    for s in services:
        key = pd.read_csv(ROOT / s.source / "key_results.csv")
        job = key[key["measure"] == "pct_job_of_all"].iloc[0]
        mine = estimates[(estimates["service"] == s.name) & (estimates["measure"] == "job_rate_pct")].iloc[0]
        assert mine["events"] % 5 == 0 and mine["n"] % 5 == 0  # the nhs rule's rounded counts
        assert close(100 * mine["events"] / mine["n"], job["value"], rtol=1e-9)  # the CSV holds 10 digits
        p = mine["events"] / mine["n"]
        assert close(mine["estimate"], np.log(p / (1 - p)), 1e-12)
        assert close(mine["se"], np.sqrt(1 / (mine["n"] * p * (1 - p))), 1e-12)
        cif = key[(key["measure"] == "cif_employment_pct") & (key["level"] == "12")].iloc[0]
        mine = estimates[(estimates["service"] == s.name) & (estimates["measure"] == "cif_job_12m_pct")].iloc[0]
        logit = lambda pct: np.log(pct / (100 - pct))  # noqa: E731
        assert close(mine["estimate"], logit(cif["value"]), 1e-12)
        assert close(mine["se"], (logit(cif["conf_high"]) - logit(cif["conf_low"])) / (2 * Z95), 1e-12)
        cox = pd.read_csv(ROOT / s.source / "employment_cox.csv", dtype={"level": str})
        shown = cox[cox["model"].str.startswith("adjusted") & cox["hazard_ratio"].notna()].iloc[0]
        mine = estimates[(estimates["service"] == s.name) & (estimates["measure"] == "employment_cox_hr_adjusted")
                         & (estimates["level"] == shown["level"])].iloc[0]
        assert close(mine["estimate"], np.log(shown["hazard_ratio"]), 1e-12)
        assert close(mine["se"], (np.log(shown["conf_high"]) - np.log(shown["conf_low"])) / (2 * Z95), 1e-12)


def test_the_committed_input_of_the_R_check_is_what_stage_one_gives_today(estimates):
    committed = pd.read_csv(HERE / "estimates.csv", dtype={"level": str}, float_precision="round_trip")
    today = estimates[estimates["entered"]].reset_index(drop=True)
    assert list(today[["measure", "factor", "level", "service"]].itertuples(index=False)) == \
        list(committed[["measure", "factor", "level", "service"]].itertuples(index=False))
    assert np.allclose(today[["estimate", "se"]], committed[["estimate", "se"]], rtol=1e-15, atol=0)


def test_a_blanked_value_is_left_out_and_named_never_pooled_as_zero(tmp_path):
    """A ratio blanked in one release (as a cell rule would) is left out of its group and named."""
    copies = [shutil.copytree(ROOT / f, tmp_path / f.name) for f in RELEASES]
    cox = pd.read_csv(copies[0] / "employment_cox.csv", dtype=str, keep_default_na=False)
    hidden = cox.index[cox["model"].str.startswith("adjusted") & (cox["hazard_ratio"] != "")][:2]
    cox.loc[hidden, ["hazard_ratio", "conf_low", "conf_high", "p", "suppressed"]] = ["", "", "", "", "statistics"]
    cox.to_csv(copies[0] / "employment_cox.csv", index=False)
    estimates = pool.service_estimates([pool.read_release(c) for c in copies])
    pooled, checked = pool.pool(estimates, "dl", False, {m: "" for m in pool.LABELS})
    blanked = checked[checked["reason"] == pool.BLANKED]
    assert len(blanked) > 0 and not blanked["entered"].any() and blanked["estimate"].isna().all()
    for (measure, factor, level), rows in blanked.groupby(["measure", "factor", "level"]):
        row = pooled[(pooled["measure"] == measure) & (pooled["factor"] == factor) & (pooled["level"] == level)].iloc[0]
        entered = checked[(checked["measure"] == measure) & (checked["factor"] == factor)
                          & (checked["level"] == level) & checked["entered"]]
        assert row["k"] == len(entered) and not set(rows["service"]) & set(row["services"].split("; "))
        assert all(name in row["left_out"] for name in rows["service"])
        if row["k"] >= 2:  # the pooled value is that of the services that published it
            alone = meta.random_effects(entered["estimate"], entered["se"] ** 2)
            assert close(row["estimate"], np.exp(alone["mu"]), 1e-12)


def test_a_service_whose_release_blanks_the_job_rate_is_left_out_of_it(tmp_path):
    copies = [shutil.copytree(ROOT / f, tmp_path / f.name) for f in RELEASES]
    key = pd.read_csv(copies[0] / "key_results.csv", dtype=str, keep_default_na=False)
    key.loc[key["measure"] == "pct_job_of_all", ["value", "suppressed"]] = ["", "statistics"]
    key.to_csv(copies[0] / "key_results.csv", index=False)
    assert main(["pool", *map(str, copies), "--out", str(tmp_path / "out"), "--no-book"]) == 0
    row = pd.read_csv(tmp_path / "out" / "pooled.csv").set_index("measure").loc["job_rate_pct"]
    assert row["k"] == 3 and "Synthetic service A" not in row["services"] and "Synthetic service A" in row["left_out"]
    funnel = pd.read_csv(tmp_path / "out" / "funnel.csv")
    assert "Synthetic service A" not in set(funnel["service"])


# --- stage two: the same as statsmodels and R's metafor ---------------------------------------------------------

def test_dersimonian_laird_equals_statsmodels_combine_effects(estimates):
    for (measure, factor, level), rows in estimates[estimates["entered"]].groupby(["measure", "factor", "level"]):
        if len(rows) < 2:
            continue
        y, v = rows["estimate"].to_numpy(), rows["se"].to_numpy() ** 2
        with np.errstate(invalid="ignore"):
            reference = combine_effects(y, v, method_re="dl")
        truncated = reference.tau2 < 0  # DerSimonian-Laird's tau^2 below 0 is 0: then the fixed-effect pooling
        for hk in (False, True):
            mine = meta.random_effects(y, v, "dl", hk)
            mu = reference.mean_effect_fe if truncated else reference.mean_effect_re
            if hk:
                se = reference.sd_eff_w_fe_hksj if truncated else reference.sd_eff_w_re_hksj
            else:
                se = reference.sd_eff_w_fe if truncated else reference.sd_eff_w_re
            assert close(mine["mu"], mu) and close(mine["se"], se), (measure, factor, level, hk)
            assert close(mine["q"], reference.q) and close(mine["i2"], max(reference.i2, 0.0))


@pytest.mark.parametrize("method", ["dl", "reml"])
@pytest.mark.parametrize("hartung_knapp", [False, True])
def test_pooling_equals_metafor_rma_to_1e_8(estimates, method, hartung_knapp):
    """Every pooled group against R's printed output (committed): estimate, SE, CI, tau^2, I^2, Q and the
    prediction interval, relative 1e-8; tau^2 and I^2 near 0 absolutely too (where the REML maximum is at
    tau^2 = 0 R's Fisher scoring stops at up to 8e-13, I^2 1.2e-11, where this one stops at 0)."""
    reference = pd.read_csv(HERE / "metafor_output.csv", dtype={"level": str})
    reference = reference[(reference["method"] == method) & (reference["hartung_knapp"] == hartung_knapp)]
    assert len(reference) == 56
    for r in reference.itertuples():
        rows = group(estimates, r.measure, r.factor, r.level)
        mine = meta.random_effects(rows["estimate"], rows["se"] ** 2, method, hartung_knapp)
        assert mine["k"] == r.k
        for column in COMPARED:
            atol = {"tau2": 1e-11, "i2": 1e-10}.get(column, 0.0)
            assert close(mine[column], getattr(r, column), atol=atol), (r.measure, r.factor, r.level, column)


@pytest.mark.parametrize("method", ["dl", "reml"])
@pytest.mark.parametrize("hartung_knapp", [False, True])
def test_pooling_and_meta_regression_equal_metafor_away_from_tau2_0(method, hartung_knapp):
    """The services are drawn alike, so most of their tau^2 sit at 0; metafor's dat.bcg (13 BCG trials, tau^2
    0.31 by REML) checks the interior: log risk ratios from the counts as escalc, then pooled and regressed
    on latitude, everything to relative 1e-8 against R's committed output."""
    trials = pd.read_csv(HERE / "bcg.csv")
    y = np.log(trials["tpos"] / (trials["tpos"] + trials["tneg"])) - np.log(trials["cpos"] / (trials["cpos"] + trials["cneg"]))
    v = 1 / trials["tpos"] - 1 / (trials["tpos"] + trials["tneg"]) + 1 / trials["cpos"] - 1 / (trials["cpos"] + trials["cneg"])
    assert np.allclose(y, trials["yi"], rtol=1e-12) and np.allclose(v, trials["vi"], rtol=1e-12)
    r = pd.read_csv(HERE / "bcg_output.csv").set_index(["method", "hartung_knapp"]).loc[(method, hartung_knapp)]
    assert r["tau2"] > 0.3 and r["reg_tau2"] > 0.05
    mine = meta.random_effects(y, v, method, hartung_knapp)
    for column in COMPARED:
        assert close(mine[column], r[column]), column
    fit = meta.meta_regression(y, v, trials["ablat"], method, hartung_knapp)
    for column in ("intercept", "slope", "se", "conf_low", "conf_high", "p", "tau2"):
        assert close(fit[column], r[f"reg_{column}"]), column


def test_meta_regression_on_fidelity_equals_metafor(estimates):
    fidelity = pd.read_csv(ROOT / FIDELITY)
    reference = pd.read_csv(HERE / "metafor_regression.csv", dtype={"level": str})
    for r in reference.itertuples():
        rows = group(estimates, r.measure, r.factor, r.level).merge(fidelity, on="service")
        fit = meta.meta_regression(rows["estimate"], rows["se"] ** 2, rows["ips25_total"] / 10, r.method, r.hartung_knapp)
        for column in ("intercept", "slope", "se", "conf_low", "conf_high", "p", "tau2"):
            assert close(fit[column], getattr(r, column), atol=1e-11 if column == "tau2" else 0.0), (r, column)


def test_the_committed_R_output_is_what_R_prints_today(tmp_path):
    r_prints(HERE / "metafor.R", tmp_path, missing="R's metafor")  # writes its tables into tmp_path
    for name in ("metafor_output.csv", "metafor_regression.csv", "bcg_output.csv", "bcg.csv"):
        today, committed = (pd.read_csv(folder / name, dtype={"level": str}) for folder in (tmp_path, HERE))
        numbers = committed.select_dtypes("number").columns
        assert today.drop(columns=numbers).equals(committed.drop(columns=numbers)), name
        assert np.allclose(today[numbers], committed[numbers], rtol=1e-12, atol=0, equal_nan=True), name


# --- bad input ----------------------------------------------------------------------------------------------------

@pytest.fixture
def copies(tmp_path):
    return [shutil.copytree(ROOT / f, tmp_path / "in" / f.name) for f in RELEASES]


def set_info(folder: Path, item: str, value: str) -> None:
    info = pd.read_csv(folder / "run_info.csv", dtype=str, keep_default_na=False)
    info.loc[info["item"] == item, "value"] = value
    info.to_csv(folder / "run_info.csv", index=False)


def refused(capsys, args: list[str], problems: int = 1) -> str:
    """The error's lines (one per problem), after checking the exit code and that no traceback was printed."""
    assert main(["pool", *map(str, args), "--no-book"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith(f"error: the input has {problems} problem(s):\n"), err
    lines = err.splitlines()
    assert len(lines) == problems + 1, err
    return lines[1] if problems == 1 else lines[1:]


def test_a_folder_that_is_not_a_results_folder_is_refused(tmp_path, copies, capsys):
    (tmp_path / "notes").mkdir()
    line = refused(capsys, [*copies[:2], tmp_path / "notes", "--out", tmp_path / "out"])
    assert line.startswith(str(tmp_path / "notes")) and "not a results folder (no run_info.csv" in line


def test_the_same_release_twice_is_refused_whatever_its_folder_is_called(tmp_path, copies, capsys):
    again = shutil.copytree(copies[1], tmp_path / "in" / "B-again")
    line = refused(capsys, [*copies, again, "--out", tmp_path / "out"])
    assert line.startswith(str(again)) and f"the same files as {copies[1]}" in line


def test_releases_under_different_disclosure_rules_are_refused(tmp_path, copies, capsys):
    set_info(copies[3], "disclosure", "nhs (custom): counts 1-10 suppressed, others rounded to the nearest 5")
    line = refused(capsys, [*copies, "--out", tmp_path / "out"])
    assert line.startswith(str(copies[3])) and "'nhs (custom)'" in line and f"the same rule as {copies[0]}" in line


def test_releases_without_disclosure_control_need_internal(tmp_path, copies, capsys):
    for folder in copies:
        set_info(folder, "disclosure", "none: outputs as computed (synthetic or internal data)")
    lines = refused(capsys, [*copies, "--out", tmp_path / "out"], problems=4)  # each folder named
    for folder, line in zip(copies, lines):
        assert line.startswith(f"{folder}, column 'disclosure'") and "'none'" in line and "--internal" in line
    assert main(["pool", *map(str, copies), "--internal", "--out", str(tmp_path / "out"), "--no-book"]) == 0
    info = pd.read_csv(tmp_path / "out" / "run_info.csv").set_index("item")["value"]
    assert info["internal"] == "yes"


def test_a_measure_missing_in_one_service_is_refused(tmp_path, copies, capsys):
    key = pd.read_csv(copies[2] / "key_results.csv", dtype=str, keep_default_na=False)
    key[key["measure"] != "pct_job_of_all"].to_csv(copies[2] / "key_results.csv", index=False)
    line = refused(capsys, [*copies, "--out", tmp_path / "out"])
    assert line.startswith(str(copies[2])) and "no pct_job_of_all row" in line


def test_a_fidelity_file_naming_a_service_not_given_is_refused(tmp_path, copies, capsys):
    fidelity = pd.read_csv(ROOT / FIDELITY)
    fidelity.loc[2, "service"] = "Synthetic service Z"
    fidelity.to_csv(tmp_path / "fidelity.csv", index=False)
    line = refused(capsys, [*copies, "--fidelity", tmp_path / "fidelity.csv", "--out", tmp_path / "out"])
    assert line.startswith(f"{tmp_path / 'fidelity.csv'}, row 4, column 'service'") and "'Synthetic service Z'" in line


# --- the worked examples ------------------------------------------------------------------------------------------

def same_files(made: Path, committed: Path) -> None:
    names = sorted(p.relative_to(made) for p in made.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    for name in names:
        assert filecmp.cmp(made / name, committed / name, shallow=False), f"{committed / name} is stale: run `make pool`"


def test_making_ips_work_sites_pooled_are_current_and_equal_the_main_books_site_analysis(tmp_path):
    assert main(["pool", "--site-table", "data_synthetic/making_ips_work_sites.csv", "--name", "Making IPS Work sites",
                 "--out", str(tmp_path / "miw"), "--no-book"]) == 0
    committed = ROOT / "pooled" / "making_ips_work"
    shutil.copytree(committed / "book", tmp_path / "miw" / "book")  # the book is checked below for the releases
    same_files(tmp_path / "miw", committed)
    mine = pd.read_csv(tmp_path / "miw" / "pooled.csv").iloc[0]
    sites = pd.read_csv(ROOT / "results" / "sites_summary.csv").iloc[0]  # the synthetic run's Making IPS Work
    for a, b in (("estimate", "random_effects_rate_pct"), ("conf_low", "re_conf_low"), ("pi_high", "prediction_high"),
                 ("i2_pct", "i2_pct"), ("tau2", "tau2")):
        assert close(mine[a], sites[b], 1e-9), a


@pytest.fixture(scope="module")
def pooled_book(tmp_path_factory):
    """The synthetic services' pooling as `make pool` runs it, book and all (rendered once for the module)."""
    out = tmp_path_factory.mktemp("pool") / "synthetic"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)  # the folders as `make pool` names them, relative to the repository
        pool.run(RELEASES, out, fidelity=FIDELITY, name="Four synthetic services")
    return out


def test_the_committed_pooling_of_the_synthetic_services_is_current_byte_for_byte(pooled_book):
    same_files(pooled_book, ROOT / "pooled" / "synthetic")


def test_the_pooled_book_has_its_chapters_and_no_error_text(pooled_book):
    book = pooled_book / "book"
    assert sorted(p.name for p in book.iterdir()) == sorted([f"{s}.html" for s in PAGES] + ["pooled-services.pdf"])
    check_no_error_text(book)
    check_figures(book, PAGES)


def test_the_headline_numbers_equal_the_pooled_table_and_link_to_their_key_result(pooled_book):
    pooled = pd.read_csv(pooled_book / "pooled.csv").set_index("measure")
    html = (pooled_book / "book" / "index.html").read_text(encoding="utf-8")
    for measure in ("job_rate_pct", "positive_outcome_rate_pct", "cif_job_12m_pct"):
        r = pooled.loc[measure]
        link = re.search(rf"<a\s+href=\"key-results\.html#{anchor('pooled_' + measure)}\"[^>]*>(.*?)</a>", html, re.S)
        assert link and f"{fmt(r['estimate'], 1)}%" in link.group(1), measure
        shown = visible_text(pooled_book / "book" / "index.html")
        assert f"prediction interval for a new service {fmt(r['pi_low'], 1)} to {fmt(r['pi_high'], 1)}%" in shown
        assert f"I-squared {fmt(r['i2_pct'], 1)}%" in shown
    rates = visible_text(pooled_book / "book" / "fidelity.html")
    fit = pd.read_csv(pooled_book / "meta_regression.csv").iloc[0]
    assert f"was {fmt(fit['odds_ratio'], 2)} (95% CI {fmt(fit['conf_low'], 2)} to {fmt(fit['conf_high'], 2)}" in rates


def test_every_link_of_the_pooled_book_leads_somewhere_in_a_real_browser(pooled_book):
    check_links_in_browser(pooled_book / "book", list(PAGES), min_links=40)


def test_the_pooled_pdf_has_every_chapter_figure_and_table_row(pooled_book):
    reader = PdfReader(pooled_book / "book" / "pooled-services.pdf")
    pages = [page.extract_text() for page in reader.pages]
    assert "Contents" in pages[1]
    assert sum(len(page.images) for page in reader.pages) == sum(PAGES.values())
    text = " ".join(" ".join(pages).split()).replace("’", "'")
    for stem in PAGES:
        html = (pooled_book / "book" / f"{stem}.html").read_text(encoding="utf-8")
        for heading in re.findall(r"<h[12][^>]*>(.*?)</h[12]>", html, re.S):
            assert " ".join(re.sub(r"<[^>]+>", "", heading).split()).replace("’", "'") in text, (stem, heading)
    assert table_rows_in_pdf(pooled_book / "book", list(PAGES), pages) > 150
