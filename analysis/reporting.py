"""What the Quarto reports call: read the results folder and format numbers and tables as Markdown.

Reports never fit a model: every number they print comes from results/ through these helpers, so prose
and tables cannot drift from the analysis. Output is plain Markdown (cells use `#| output: asis`), which
Quarto and the fallback renderer turn into the same HTML and PDF.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pandas as pd

from .calibration import published_decimals, round_half_up


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
    def synthetic(self) -> bool:
        """A run of the package's own synthetic extract (a reproduction), not a trust's own data."""
        return self.info("data", "synthetic") == "synthetic"

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

    def ci(self, measure: str, factor: str = "all", level: str = "all", digits: int = 1) -> str:
        r = self.row(measure, factor, level)
        if is_suppressed(r, "conf_low"):
            return SUPPRESSED
        return f"{fmt(r['conf_low'], digits)} to {fmt(r['conf_high'], digits)}"

    def figure(self, name: str, caption: str) -> str:
        path = self.folder / "figures" / (name + ".png")
        if not path.exists():  # too few people to publish its curve, nothing to draw, or drawing failed
            return f"*Figure not drawn for this run ({caption.split(':')[0].rstrip('.')}): see the tables.*"
        return f"![{caption}]({path.as_posix()})"

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


def method_of(table: pd.DataFrame, column: str = "method", last: bool = False) -> str:
    """The method named in a table (the first row's, or the last's), or why there is none."""
    if column not in table or not len(table):
        return "no model could be fitted on these data"
    return str(table[column].iloc[-1 if last else 0])


def fmt(value, digits: int = 1) -> str:
    """Round half up (as papers do); 'not reached' for a missing value; thousands separated."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "not reached"
    if not math.isfinite(float(value)):  # e.g. an odds ratio's CI limit when a cell is empty
        return "not estimable"
    rounded = round_half_up(float(value), digits)
    return f"{rounded:,.{digits}f}"


def fmt_p(p) -> str:
    if pd.isna(p):
        return "not tested"
    return "< 0.001" if p < 0.001 else f"{round_half_up(p, 3):.3f}"


def md_table(frame: pd.DataFrame, columns: dict[str, str], digits: dict[str, int] | None = None,
             p_columns: tuple[str, ...] = ()) -> str:
    """A pipe table with the given column headers; numbers rounded half up to the given digits."""
    digits = digits or {}
    header = "| " + " | ".join(columns.values()) + " |"
    align = "|" + "|".join("---:" if c in digits or c in p_columns else ":---" for c in columns) + "|"
    lines = [header, align]
    for i in range(len(frame)):
        cells = []
        for c in columns:
            v = frame[c].iloc[i]  # by column, so integer columns stay integers
            if is_suppressed(frame.iloc[i], c):
                cells.append(SUPPRESSED)
            elif c in p_columns:
                cells.append(fmt_p(v))
            elif c in digits:
                cells.append(fmt(v, digits[c]))
            else:
                cells.append("" if pd.isna(v) else str(v).replace("|", "/"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def published_comparison(calibration: pd.DataFrame, results: Results) -> pd.DataFrame:
    """Every published figure beside the value in key_results, and whether it matches at the published
    precision (values) or on the published side of 0.05 (tests)."""
    rows = []
    for _, c in calibration[calibration["kind"] == "published"].iterrows():
        quantity, factor, level, text = c["quantity"], c["characteristic"], c["category"], c["value"]
        if quantity == "site_published_rate_pct":
            quantity, factor = "site_job_rate_pct", "site"
        if quantity in ("access_p_below", "outcome_p_at_least"):
            measure = "access_p" if quantity == "access_p_below" else "outcome_p"
            factors = [factor] if factor != "all" else ["ethnicity", "gender", "age_band", "diagnosis"]
            for f in factors:
                if not results.has(measure, f):
                    continue
                p = results.row(measure, f)["value"]
                ok = p < 0.05 if quantity == "access_p_below" else p >= 0.05
                rows.append({"id": c["id"], "figure": f"{measure} ({f})",
                             "published": ("p < 0.05" if quantity == "access_p_below" else "p >= 0.05"),
                             "reproduced": "p " + (fmt_p(p) if fmt_p(p).startswith("<") else f"= {fmt_p(p)}"), "matches": "yes" if ok else "no",
                             "source": c["source_or_reason"]})
            continue
        if not results.has(quantity, factor, level):
            continue
        decimals = published_decimals(text)
        value = results.row(quantity, factor, level)["value"]
        shown = fmt(value, decimals).replace(",", "")
        rows.append({"id": c["id"], "figure": quantity + ("" if factor == "all" else f" ({factor}: {level})"),
                     "published": text, "reproduced": shown, "matches": "yes" if shown == text else "no",
                     "source": c["source_or_reason"]})
    return pd.DataFrame(rows)
