"""The calibration file: every published figure the package reproduces and every assumption the synthetic
generator makes, each with its source or reason. The generator reads it; the tests and reports print it."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd

CALIBRATION_COLUMNS = ("id", "kind", "quantity", "characteristic", "category", "value", "source_or_reason")
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "data_synthetic" / "calibration.csv"


def round_half_up(value: float, decimals: int) -> float:
    """Round as a paper does (0.05 -> 0.1), not as Python's round() does (to even)."""
    quantum = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP))


def published_decimals(text: str) -> int:
    """The precision a figure was published at: '46.2' -> 1, '132' -> 0."""
    return len(text.split(".")[1]) if "." in text else 0


def exact_sizes(figures: list[str], up_to: int) -> list[int]:
    """The group sizes n (1 to up_to) at which every published percentage in `figures` ('47.8') is some k/n
    rounded half up to its published precision: the sizes the synthetic groups could have had."""
    def exact(text: str, n: int) -> bool:
        target, decimals = float(text), published_decimals(text)
        return any(round_half_up(100 * k / n, decimals) == target for k in range(n + 1))
    return [n for n in range(1, up_to + 1) if all(exact(f, n) for f in figures)]


class Calibration:
    """Read-only view of calibration.csv with look-ups by quantity, characteristic and category, indexed
    once when it is made (the generator asks thousands of times per cohort: a filter of the table each
    time was a third of `ips-analysis robustness`). To change a value, change a copy of `table` and make a
    new Calibration from it (as robustness._with does): the look-ups do not see later edits of `table`."""

    def __init__(self, table: pd.DataFrame):
        missing = [c for c in CALIBRATION_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"calibration table lacks columns {missing}")
        self.table = table
        self._values: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (quantity, characteristic): rows in order
        for quantity, characteristic, category, value in zip(table["quantity"], table["characteristic"],
                                                              table["category"], table["value"]):
            self._values.setdefault((quantity, characteristic), []).append((category, value))

    @classmethod
    def read(cls, path: Path = DEFAULT_PATH) -> "Calibration":
        return cls(pd.read_csv(path, dtype=str, keep_default_na=False))

    def text(self, quantity: str, characteristic: str = "all", category: str = "all") -> str:
        values = [v for c, v in self._values.get((quantity, characteristic), []) if c == category]
        if len(values) != 1:
            raise KeyError(f"calibration has {len(values)} rows for {quantity}/{characteristic}/{category}")
        return values[0]

    def number(self, quantity: str, characteristic: str = "all", category: str = "all") -> float:
        return float(self.text(quantity, characteristic, category))

    def texts(self, quantity: str, characteristic: str) -> dict[str, str]:
        """Each category's value as written (a published figure's text keeps its precision)."""
        return dict(self._values.get((quantity, characteristic), []))

    def counts(self, quantity: str, characteristic: str) -> dict[str, int]:
        return {category: int(value) for category, value in self.texts(quantity, characteristic).items()}
