"""The one kind of error a user's input raises: every problem at once, each with file, row and column."""
from __future__ import annotations

from dataclasses import dataclass

MAX_PROBLEMS_SHOWN = 50


@dataclass(frozen=True)
class Problem:
    file: str
    row: int | None  # line in the file; None for a problem with the whole file or a column
    column: str | None
    found: str
    expected: str
    contract_column: str | None = None  # set when the file calls the column something else (a mapping)

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
            if self.contract_column:
                where += f" (contract column '{self.contract_column}')"
        return f"{where}: found {self.found}; expected {self.expected}"


class InputError(Exception):
    """Bad input from the user: one or more problems, all reported together."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__(self.message())

    def message(self) -> str:
        shown = [str(p) for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        more = len(self.problems) - len(shown)
        if more > 0:
            shown.append(f"... and {more} more problems")
        return "\n".join(shown)
