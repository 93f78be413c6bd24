"""Reading a trust's file as a table of text cells: CSV (any common encoding, with or without a byte-order
mark, optionally gzip-compressed as .csv.gz), Excel (.xlsx) or Parquet. Types are not guessed here; validation does that against the contract."""
from __future__ import annotations

import codecs
import csv
import gzip
import zlib
from pathlib import Path

import pandas as pd

from .errors import InputError, Problem

CSV_ENCODINGS = ("utf-8", "cp1252", "latin-1")  # tried in order after any byte-order mark
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _decode(raw: bytes, file: str) -> str:
    for bom, encoding in BOMS:
        if raw.startswith(bom):
            return raw.decode(encoding)
    if b"\x00" in raw[:4096]:
        raise InputError([Problem(file, None, None, "binary content (NUL bytes)", "a text CSV file, .xlsx or .parquet")])
    for encoding in CSV_ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError([Problem(file, None, None, "text in an unknown encoding", "UTF-8, UTF-16 or Windows-1252")])


def _is_utf8(raw: bytes, chunk: int = 1 << 24) -> bool:
    """Whether the bytes are valid UTF-8, checked 16 MB at a time (decoding a national extract whole would
    hold a second copy of it as text)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(raw)
    try:
        for start in range(0, len(raw), chunk):
            decoder.decode(view[start:start + chunk])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _utf8(raw: bytes, file: str) -> bytes:
    """The file's bytes as UTF-8 without a byte-order mark (decoding only when it is not UTF-8 already)."""
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8):]
    if not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and b"\x00" not in raw[:4096]:
        if _is_utf8(raw):
            return raw
    return _decode(raw, file).encode("utf-8")


def _read_csv(raw: bytes, file: str) -> pd.DataFrame:
    """CSV through pyarrow's parser (columnar, multi-threaded), every cell kept as text."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    data = _utf8(raw, file)
    end = data.find(b"\n")
    first_line = data[:end if end >= 0 else len(data)].decode("utf-8").rstrip("\r")
    header = next(csv.reader([first_line])) if first_line else []
    if not header:
        raise pd.errors.EmptyDataError
    names = [f"c{i}" for i in range(len(header))]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid as err:
        raise InputError(_ragged_rows(data, len(header), file) or [
            Problem(file, None, None, f"a file that is not a readable table ({str(err).splitlines()[0][:160]})",
                    "a CSV file with a header row, an .xlsx workbook or a .parquet file")]) from None
    return _text_frame([table.column(i) for i in range(table.num_columns)], header)


def _text_frame(columns: list, header: list[str]) -> pd.DataFrame:
    """Arrow text columns as a frame of Arrow-backed strings (no million Python strings; string operations stay
    in Arrow), cells trimmed of spaces and names stripped; by position, so duplicated names survive to be
    reported by validation."""
    import pyarrow.compute as pc

    def trimmed(column):
        cut = pc.utf8_trim_whitespace(column)  # one column at a time: at most one spare copy is held
        changed = pc.any(pc.not_equal(pc.binary_length(cut), pc.binary_length(column))).as_py()
        return cut if changed else column
    frame = pd.DataFrame({i: pd.Series(pd.arrays.ArrowStringArray(trimmed(column))) for i, column in enumerate(columns)})
    frame.columns = [str(h).strip() for h in header]
    return frame


def _ragged_rows(data: bytes, width: int, file: str) -> list[Problem]:
    """Rows whose number of fields differs from the header's (only read when the fast parser refused the file)."""
    rows = csv.reader(data.decode("utf-8").splitlines())
    next(rows, None)
    return [Problem(file, line, None, f"{len(fields)} field(s)", f"{width} fields, as in the header row")
            for line, fields in enumerate(rows, start=2) if fields and len(fields) != width]


def _cell_text(values: pd.Series) -> pd.Series:
    """Excel and Parquet cells to the text a CSV would hold: dates as YYYY-MM-DD, whole numbers without .0."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.strftime("%Y-%m-%d").fillna("")

    def cell(v):
        if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT:
            return ""
        if hasattr(v, "strftime"):
            return v.strftime("%Y-%m-%d") if getattr(v, "hour", 0) == 0 and getattr(v, "minute", 0) == 0 else str(v)
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)
    return values.map(cell).fillna("").astype(str)


def _read_excel(path: Path) -> pd.DataFrame:
    import pyarrow as pa

    # The header is read as a data row, so duplicated column names survive to be reported.
    grid = pd.read_excel(path, dtype=object, engine="openpyxl", header=None)
    if len(grid) == 0:
        raise pd.errors.EmptyDataError
    text = [_cell_text(grid[column]) for column in grid.columns]
    return _text_frame([pa.array(t.iloc[1:].tolist(), type=pa.string()) for t in text], [t.iloc[0] for t in text])


def _arrow_text(column):
    """A Parquet column as the text _cell_text would give, computed in Arrow (a million rows cell by cell in
    Python took seconds); None for a type that has no fast path here."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind) or pa.types.is_date(kind):
        text = column.cast(pa.string())
    elif pa.types.is_timestamp(kind) and kind.tz is None:
        text = column.cast(pa.date32()).cast(pa.string())
    elif pa.types.is_floating(kind):
        finite = pc.if_else(pc.is_nan(column), pa.scalar(None, kind), column)
        if not pc.all(pc.equal(pc.floor(finite), finite)).as_py() in (True, None):
            return None  # a fractional number: written as Python writes it, by the slow path
        text = finite.cast(pa.int64()).cast(pa.string())
    else:
        return None
    return text.fill_null("")


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if table.num_columns == 0:
        raise pd.errors.EmptyDataError
    columns = []
    for i in range(table.num_columns):
        text = _arrow_text(table.column(i))
        if text is None:
            text = pa.array(_cell_text(table.column(i).to_pandas()).to_numpy(dtype=object), type=pa.string())
        columns.append(text)
    return _text_frame(columns, table.column_names)


def read_table(path: Path) -> pd.DataFrame:
    """Any supported file as text cells, column names stripped; an InputError for anything else."""
    path = Path(path)
    file = str(path)
    if not path.exists():
        raise InputError([Problem(file, None, None, "no such file", "an existing file")])
    if path.stat().st_size == 0:
        raise InputError([Problem(file, None, None, "an empty file", "a header row and data rows")])
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            table = _read_excel(path)
        elif suffix == ".parquet":
            table = _read_parquet(path)
        elif suffix == ".gz":  # a gzip-compressed CSV, as large extracts are often sent
            table = _read_csv(_gunzip(path, file), file)
        else:
            table = _read_csv(path.read_bytes(), file)
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise InputError([Problem(file, None, None, "an empty file", "a header row and data rows")]) from None
    except Exception as err:  # a corrupt workbook, a truncated parquet, a ragged CSV: all the user's file
        raise InputError([Problem(file, None, None, f"a file that is not a readable table ({type(err).__name__}: "
                                  f"{str(err).splitlines()[0][:200] if str(err) else 'unreadable'})",
                                  "a CSV file with a header row, an .xlsx workbook or a .parquet file")]) from None
    if table.shape[1] < 2:
        raise InputError([Problem(file, None, None, f"{table.shape[1]} column(s): not a table of IPS episodes",
                                  "comma-separated columns with a header row")])
    return table


def _gunzip(path: Path, file: str) -> bytes:
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as err:
        raise InputError([Problem(file, None, None, f"a damaged gzip file ({err})",
                                  "a CSV file compressed with gzip (.csv.gz)")]) from None
