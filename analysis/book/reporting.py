"""What the Quarto book calls: read the results folder, format numbers, and give tables as Markdown.

Chapters never fit a model: every number comes from results/ through these helpers, so prose and tables
cannot drift from the analysis. Numbers go inline in the chapters' Markdown (`{python} R.num(...)`);
tables and figures are a cell's displayed output (IPython's Markdown and Image), which Quarto and the
fallback renderer number and caption alike. Labels come from analysis/book/labels.py, p-values from one rule.
"""
from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.book import labels
from analysis.data.calibration import round_half_up


class Results:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not (self.folder / "key_results.csv").exists():
            raise FileNotFoundError(f"{self.folder / 'key_results.csv'} not found: run `make results` first")
        self.key = pd.read_csv(self.folder / "key_results.csv", keep_default_na=False, na_values=[""])
        self.key["level"] = self.key["level"].astype(str)

    def info(self, item: str, default: str = "") -> str:
        """An item of run_info.csv (service_name, data, extract_date, disclosure, ...)."""
        table = self.table("run_info")
        return str(table.set_index("item")["value"].get(item, default)) if len(table) else default

    @property
    def controlled(self) -> bool:
        """A release under disclosure control (any rule but `none`)."""
        return not self.info("disclosure", "none").startswith("none")

    @property
    def wilson_ci(self) -> str:
        """What a rate's interval is called in a sentence: Wilson's, or under disclosure control the hull of the
        Wilson intervals of every count the rounded ones may stand for (it holds the exact counts' interval)."""
        return ("95% CI, the hull of the Wilson intervals of every count the rounded ones may stand for,"
                if self.controlled else "Wilson 95% CI")

    @property
    def synthetic(self) -> bool:
        """A run of the package's own synthetic extract (a reproduction), not a trust's own data."""
        return self.info("data", "synthetic") == "synthetic"

    @property
    def data_kind(self) -> str:
        """What the numbers are computed on, for a sentence: "synthetic" or "service's own" (data)."""
        return "synthetic" if self.synthetic else "service's own"

    def table(self, name: str) -> pd.DataFrame:
        path = self.folder / f"{name}.csv"
        return pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else pd.DataFrame()

    def _rows(self, measure: str, factor: str, level: str) -> pd.DataFrame:
        key = self.key
        return key[(key["measure"] == measure) & (key["factor"] == factor) & (key["level"] == str(level))]

    def row(self, measure: str, factor: str = "all", level: str = "all") -> pd.Series:
        rows = self._rows(measure, factor, level)
        if len(rows) != 1:
            raise KeyError(f"key_results has {len(rows)} rows for {measure}/{factor}/{level}")
        return rows.iloc[0]

    def has(self, measure: str, factor: str = "all", level: str = "all") -> bool:
        return len(self._rows(measure, factor, level)) > 0

    def num(self, measure: str, factor: str = "all", level: str = "all", digits: int = 1) -> str:
        r = self.row(measure, factor, level)
        return SUPPRESSED if is_suppressed(r, "value") else fmt(r["value"], digits)

    def pct(self, measure: str, factor: str = "all", level: str = "all", digits: int = 1) -> str:
        """A percentage with its sign ("46.2%"), or "suppressed" (never "suppressed%")."""
        shown = self.num(measure, factor, level, digits)
        return shown if shown in (SUPPRESSED, "not reached", "not estimable") else shown + "%"

    def ci(self, measure: str, factor: str = "all", level: str = "all", digits: int = 1) -> str:
        r = self.row(measure, factor, level)
        if is_suppressed(r, "conf_low"):
            return SUPPRESSED
        return f"{fmt(r['conf_low'], digits)} to {fmt(r['conf_high'], digits)}"

    def figure(self, name: str):
        """A figure drawn by the run, for a cell labelled fig-...: the image, or why there is none."""
        from IPython.display import Image, Markdown

        path = self.folder / "figures" / (name + ".png")
        if not path.exists():  # too few people to publish its curve, nothing to draw, or drawing failed
            return Markdown("*Not drawn for this run (too few people to publish the curve, or nothing to "
                            "draw): see the tables.*")
        return Image(filename=str(path))

    def key_table(self) -> pd.DataFrame:
        """key_results.csv for the appendix: each row's anchor, label, group, value, CI, n and method number."""
        key = self.key.copy()
        methods = self._methods()
        key["anchor"] = [anchor(m, f, lv) for m, f, lv in zip(key["measure"], key["factor"], key["level"])]
        key["label"] = key["measure"].map(labels.measure)
        key["group"] = [labels.factor(f, m) if f == "all" else f"{labels.factor(f, m)}: {lv}"
                        for m, f, lv in zip(key["measure"], key["factor"], key["level"])]
        key["interval"] = key["interval"].fillna("") if "interval" in key else ""
        key.loc[key["conf_low"].isna() & key["conf_high"].isna(), "interval"] = ""  # no limits, no label
        key["method_no"] = [f"M{methods.index(m) + 1}" for m in key["method"].fillna("")]
        for column in ("value", "conf_low", "conf_high"):  # 4 significant digits: a p of 1.6e-07 stays visible
            key[column + "_text"] = key[column].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
        is_p = key["measure"].str.contains(r"(?:^|_)p(?:_|$)")  # a p-value of 0 is one below double precision
        key.loc[is_p & (key["value"] == 0), "value_text"] = "< 1e-16"
        key["n_text"] = key["n"].map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
        return key

    def _methods(self) -> list[str]:
        """Every distinct method of the key results, in order of first use (M1, M2, ...)."""
        return list(dict.fromkeys(self.key["method"].fillna("")))

    def methods_table(self) -> pd.DataFrame:
        methods = self._methods()
        return pd.DataFrame({"number": [f"M{i + 1}" for i in range(len(methods))],
                             "method": [code_names(m) for m in methods]})

    def fingerprint(self) -> str:
        """sha256 over every results table, so a reader can tell which run a report shows."""
        digest = hashlib.sha256()
        for path in sorted(self.folder.glob("*.csv")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()


SUPPRESSED = "suppressed"


def is_suppressed(row: pd.Series, column: str) -> bool:
    """Blank because disclosure control removed it (the row's `suppressed` column says so)."""
    note = row.get("suppressed", "")
    if not isinstance(note, str) or not note or not pd.isna(row.get(column)):
        return False
    names = [n.strip() for n in note.split(";")]
    return column in names or "statistics" in names


def fmt_n(value) -> str:
    """A number of people: a whole number, or 'a suppressed number of' where disclosure control blanked it."""
    return "a suppressed number of" if value is None or pd.isna(value) else f"{int(value):,}"


IDENTIFIER = re.compile(r"(?<![`\w])([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+)(?![`\w])")


def code_names(text: str) -> str:
    """Text with the names in it set as code: library functions in a method (`proportion_confint`), codes
    and columns of the data contract (`gained_employment`), so a reader sees which are names to look up."""
    return IDENTIFIER.sub(r"`\1`", str(text))


def method_of(table: pd.DataFrame | pd.Series, column: str = "method", last: bool = False) -> str:
    """The method named in a table (the first row's, or the last's) or in one row, or why there is none."""
    if isinstance(table, pd.Series):
        return code_names(table[column])
    if column not in table or not len(table):
        return "no model could be fitted on these data"
    return code_names(table[column].iloc[-1 if last else 0])


def fmt(value, digits: int = 1) -> str:
    """Round half up (as papers do); 'not reached' for a missing value; thousands separated."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "not reached"
    if not math.isfinite(float(value)):  # e.g. an odds ratio's CI limit when a cell is empty
        return "not estimable"
    rounded = round_half_up(float(value), digits)
    return f"{rounded:,.{digits}f}"


def fmt_pct(value, digits: int = 1) -> str:
    """A percentage with its sign, or "not published" where there is no number (a blank cell of a release, or
    nothing to compute): never "nan%" or "not reached%"."""
    shown = fmt(value, digits)
    return shown + "%" if shown not in ("not reached", "not estimable") else "not published"


def fmt_p(p) -> str:
    """A p-value in a table cell: 3 decimals, "< 0.001" below that, "not tested" when missing."""
    if pd.isna(p):
        return "not tested"
    return "< 0.001" if p < 0.001 else f"{round_half_up(p, 3):.3f}"


def p_text(p) -> str:
    """A p-value in a sentence, by the same rule: "p < 0.001", "p = 0.042", "not tested"."""
    shown = fmt_p(p)
    return shown if shown == "not tested" else ("p " + shown if shown.startswith("<") else f"p = {shown}")


def anchor(measure: str, factor: str = "all", level: str = "all") -> str:
    """The id of a key_results row in the appendix, which a headline number links to:
    kr-<measure> for the whole cohort, else kr-<measure>-<factor>-<level>."""
    parts = [measure] if factor == "all" else [measure, factor, str(level)]
    return "kr-" + re.sub(r"[^A-Za-z0-9_]+", "-", "-".join(parts)).strip("-")


def _visible(cell: str) -> str:
    """A cell's text as a reader sees it: without link targets, anchors and emphasis marks."""
    return re.sub(r"\]\([^)]*\)|\]\{[^}]*\}|[\[*`]", "", cell)


PAGE_CHARACTERS = 112  # characters of table text (7.5 pt) across the PDF page, cell padding included
CELL_PADDING = 3  # characters of a cell's inset, left and right together


def column_widths(headers: list[str], rows: list[list[str]]) -> list[int]:
    """Each column's width in characters, given to pandoc as the dashes under the header (its relative column
    widths, as a share of the page in the PDF). A column that cannot wrap (numbers, identifiers, one word)
    keeps its whole width; columns of words share what is left, never narrower than their longest word.
    Widths in proportion to content alone squeezed a wide table's numbers into columns narrower than them,
    and typst printed them over the next column ("1.630.805")."""
    cells = [[_visible(h)] + [_visible(r[j]) for r in rows] for j, h in enumerate(headers)]
    longest = [max(len(c) for c in column) + CELL_PADDING for column in cells]
    word = [max((len(w) for c in column for w in c.split()), default=0) + CELL_PADDING for column in cells]
    if sum(longest) <= PAGE_CHARACTERS:
        return longest
    flexible = [j for j in range(len(headers)) if word[j] < longest[j]]
    left = PAGE_CHARACTERS - sum(longest[j] for j in range(len(headers)) if j not in flexible)
    share = sum(longest[j] for j in flexible)
    widths = list(longest)
    for j in flexible:
        widths[j] = max(word[j], int(left * longest[j] / share))
    return widths


HUMAN_COLUMNS = ("factor", "characteristic", "model", "term")  # cells holding identifiers, shown in words


def md_table(frame: pd.DataFrame, columns: dict[str, str], digits: dict[str, int] | None = None,
             p_columns: tuple[str, ...] = (), missing: dict[str, str] | None = None):
    """A pipe table with the given column headers, numbers rounded half up to the given digits, identifiers
    in words (analysis/book/labels.py), yes/no for flags, a dash for a missing number (or what `missing` says
    for that column, e.g. "not reached" for a median); as Markdown, for a cell's output (Quarto and the
    fallback give it the cell's tbl-cap). Column widths follow the longest cell, so a wide table fits a page."""
    from IPython.display import Markdown

    digits = digits or {}
    rows = []
    for i in range(len(frame)):
        cells = []
        for c in columns:
            v = frame[c].iloc[i]  # by column, so integer columns stay integers
            if is_suppressed(frame.iloc[i], c):
                cells.append(SUPPRESSED)
            elif c in p_columns:
                cells.append(fmt_p(v))
            elif c in digits:
                cells.append((missing or {}).get(c, "–") if pd.isna(v) else fmt(v, digits[c]))
            elif isinstance(v, (bool, np.bool_)):
                cells.append("yes" if v else "no")
            elif pd.isna(v):
                cells.append("")
            elif isinstance(v, (float, np.floating)) and float(v).is_integer():
                cells.append(f"{int(v)}")  # a count read back as a float (a column with a blank): 1235, not 1235.0
            else:
                cells.append((labels.human(v) if c in HUMAN_COLUMNS else str(v)).replace("|", "/"))
        rows.append(cells)
    if not rows:
        rows = [["(none in this run)"] + [""] * (len(columns) - 1)]
    widths = column_widths(list(columns.values()), rows)
    align = "|" + "|".join("-" * max(3, w) + (":" if c in digits or c in p_columns else "-")
                           for c, w in zip(columns, widths)) + "|"
    lines = ["| " + " | ".join(columns.values()) + " |", align] + ["| " + " | ".join(r) + " |" for r in rows]
    return Markdown("\n".join(lines) + "\n")
