"""Dates as systems write them, read as YYYY-MM-DD before validation.

RiO, SystmOne, Epic and Carenotes reports write a date with its time ("2021-01-02 10:00:00.000",
"2021-01-02T10:00:00Z", "02/01/2021 10:00"); a workbook holds real dates, or, in a column formatted as
General, Excel's day numbers (44652 is 2022-04-01). Every analysis counts whole days, so a time after the
date is read and dropped, whatever the format; YYYY-MM-DD (which no other format can be mistaken for) and
Excel day numbers are read whatever the format too. A full pattern with a time (`%Y-%m-%d %H:%M:%S.%f`) is
allowed. A cell that does not read is left as written, for validation to name by file, row and column.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

ISO = "%Y-%m-%d"
# A time after the date: 10:00, 10:00:00, 10:00:00.000 (or ,000), 10:00 PM, with T or a space, and a zone.
TIME = r"[T ](?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d{1,9})?)?(?:\s?[AaPp]\.?[Mm]\.?)?(?:\s?(?:Z|UTC|[+-]\d{2}(?::?\d{2})?))?$"
SERIAL = r"^\d{5}(?:\.\d+)?$"  # Excel's day numbers 10000-99999: 1927-05-18 to 2173-10-14
EXCEL_DAY_ZERO = pd.Timestamp("1899-12-30")  # day 1 is 1900-01-01, counting Excel's 29 February 1900
TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%f", "%p", "%T", "%X", "%z", "%Z")
READABLE = {"%Y": "YYYY", "%y": "YY", "%m": "MM", "%d": "DD", "%b": "Mon", "%B": "Month"}
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%m/%d/%Y", "%Y/%m/%d", "%d/%m/%y", "%d-%b-%Y",
                "%d %b %Y", "%d-%b-%y", "%Y%m%d")
TIME_FORMATS = (" %H:%M", " %H:%M:%S", " %H:%M:%S.%f", "T%H:%M", "T%H:%M:%S", "T%H:%M:%S.%f", "T%H:%M:%SZ",
                "T%H:%M:%S.%fZ")


def arrow(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A text column as Arrow strings (no copy when it was read by pyarrow), for vectorised checks."""
    if hasattr(values.array, "__arrow_array__"):
        return pa.array(values.array)
    return pa.array(values.to_numpy(dtype=object), type=pa.string())


def date_part(date_format: str) -> str:
    """The format up to its first time directive: '%Y-%m-%d %H:%M:%S.%f' -> '%Y-%m-%d'."""
    cut = min([date_format.find(d) for d in TIME_DIRECTIVES if d in date_format] or [len(date_format)])
    return date_format[:cut].rstrip(" T") or date_format


def describe(date_format: str) -> str:
    """The format as the analyst reads it, for messages: '%d/%m/%Y' -> 'a date as DD/MM/YYYY'."""
    text = date_part(date_format)
    for directive, readable in READABLE.items():
        text = text.replace(directive, readable)
    return f"a date as {text}"


def _excel_days(text: pd.Series) -> pd.Series:
    return EXCEL_DAY_ZERO + pd.to_timedelta(text.astype(float).floordiv(1), unit="D")


def to_iso(values: pd.Series, date_format: str = ISO) -> pd.Series:
    """Dates in the file's format, with or without a time, as YYYY-MM-DD text where they read; other cells
    as they are. Cells already YYYY-MM-DD cost one length check (a national extract's usual case)."""
    text = arrow(values)
    length = pc.binary_length(text)
    base = date_part(date_format)
    if base == ISO and pc.all(pc.is_in(length, value_set=pa.array([0, 10], type=length.type))).as_py() is not False:
        return values
    original = values.to_numpy(dtype=object)
    stripped = pc.replace_substring_regex(text, TIME, "").to_numpy(zero_copy_only=False).astype(object)
    out = original.copy()
    iso = pd.Series(stripped).str.fullmatch(r"\d{4}-\d{2}-\d{2}").to_numpy(dtype=bool)
    out[iso] = stripped[iso]
    left = ~iso & (length.to_numpy(zero_copy_only=False) > 0)
    if base != ISO and left.any():
        parsed = pd.to_datetime(pd.Series(stripped[left]), format=base, errors="coerce")
        if date_format != base:
            parsed = parsed.fillna(pd.to_datetime(pd.Series(original[left]), format=date_format, errors="coerce"))
        read = parsed.notna().to_numpy()
        rows = np.flatnonzero(left)[read]
        out[rows] = parsed[read].dt.strftime(ISO).to_numpy()
        left[rows] = False
    serial = left & pd.Series(stripped).str.fullmatch(SERIAL).to_numpy(dtype=bool)
    if serial.any():
        out[serial] = _excel_days(pd.Series(stripped[serial])).dt.strftime(ISO).to_numpy()
    return pd.Series(out, index=values.index, dtype=values.dtype)


def parse_iso(raw: pd.Series) -> pd.Series:
    """YYYY-MM-DD text to dates (NaT where not a date), as pandas' to_datetime(format="%Y-%m-%d") reads them.

    pyarrow parses the usual cells without making a Python string per cell (at five million rows pandas'
    parser held gigabytes). pyarrow also accepts 2022-02-30 as 2 March, so a cell counts only when the date
    written back gives the same text, in 1900-2199; the few other cells go to pandas, which decides them.
    """
    text = arrow(raw)
    parsed = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
    written_back = parsed.cast(pa.date32()).cast(pa.string())  # ISO text; pc.strftime is twenty times slower
    exact = pc.and_(pc.equal(written_back, text),
                    pc.and_(pc.greater_equal(text, "1900-01-01"), pc.less_equal(text, "2199-12-31")))
    exact = pc.fill_null(exact, False)
    dates = pc.if_else(exact, parsed, pa.scalar(None, parsed.type)).cast(pa.timestamp("ns"))
    out = pd.Series(dates.to_numpy(zero_copy_only=False), index=raw.index, dtype="datetime64[ns]")
    rest = ~exact.to_numpy(zero_copy_only=False) & (raw != "").to_numpy(dtype=bool)
    if rest.any():
        out[rest] = pd.to_datetime(raw[rest], format="%Y-%m-%d", errors="coerce")
    return out


def detect(values: pd.Series) -> tuple[str, str]:
    """The format that reads every non-blank value, time part included (a full pattern when every value has
    the same kind of time), and a comment for the mapping template: which formats fit, or that none did."""
    values = values.dropna().astype(str).str.strip()
    values = values[values != ""]
    serial = values.str.fullmatch(SERIAL)
    days = f"; Excel day numbers (44652 is 2022-04-01): {int(serial.sum())}, read whatever the format" if serial.any() else ""
    values = values[~serial]
    if not len(values):
        return ISO, ("no dates found: the contract's format" if not days else "every date is an Excel day number, "
                     "read whatever the format")
    dates = values.str.replace(TIME, "", regex=True)
    timed = dates != values
    fits = [f for f in DATE_FORMATS if pd.to_datetime(dates, format=f, errors="coerce").notna().all()]
    if not fits:
        return ISO, "no common format reads every date: set it (and date_formats per column)" + days
    chosen = fits[0]
    if timed.all():
        chosen = next((chosen + t for t in TIME_FORMATS
                       if pd.to_datetime(values, format=chosen + t, errors="coerce").notna().all()), chosen)
    times = ("; the time after each date is read and dropped" if timed.all()
             else f"; with a time after the date: {int(timed.sum())}, read and dropped" if timed.any() else "")
    if len(fits) == 1:
        return chosen, f"every date found reads as {chosen}{times}{days}"
    return chosen, "ambiguous: every date found reads as any of " + ", ".join(fits) + f"; check one{times}{days}"
