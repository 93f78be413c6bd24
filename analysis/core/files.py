"""Writing outputs: atomically (a failed run leaves no half-written file) and byte-reproducibly."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; outputs are meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


FLOAT_FORMAT = "%.10g"  # ten significant digits: far finer than any reported figure, far coarser than rounding noise


def csv_text(frame: pd.DataFrame) -> str:
    """CSV with fixed line endings, dates as YYYY-MM-DD and floats at ten significant digits."""
    return frame.to_csv(index=False, lineterminator="\n", date_format="%Y-%m-%d", float_format=FLOAT_FORMAT)


def as_published(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with its floats as the CSV holds them (ten significant digits).

    Figures are drawn from these values, not the computed ones: numpy's vectorised log and exp differ in the
    last bit between CPUs (AVX-512 or not), and a last-bit difference can move an anti-aliased edge, so the
    same results would give different PNG bytes on another machine."""
    floats = frame.select_dtypes(include=[np.floating]).columns
    out = frame.copy()
    out[floats] = out[floats].map(lambda x: float(FLOAT_FORMAT % x))
    return out


def write_csv_atomic(path: Path, frame: pd.DataFrame) -> None:
    write_text_atomic(path, csv_text(frame))


def write_folder_atomically(out: Path, fill: Callable[[Path], T]) -> T:
    """Build a whole output folder in a staging folder beside it, then swap it in; returns what `fill` returns.

    A run that fails leaves no half-written folder, and the previous folder stays as it was.
    """
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    old = out.with_name(f".{out.name}.old")
    try:
        value = fill(staging)
        os.chmod(staging, 0o755)
        if old.exists():
            shutil.rmtree(old)
        if out.exists():
            out.rename(old)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if old.exists() and out.exists():
            shutil.rmtree(old)
    return value
