"""The one kind of error a user's input raises: every problem at once, each with file, row and column."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROW_REFERENCE = re.compile(r" \(row \d+ [^)]*\)")  # "(row 9 has it)": which earlier row, not what kind
LIST_ALL_UP_TO = 20  # more problems than this are summarised by column on screen


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

    @property
    def kind(self) -> str:
        """What was expected, without the earlier row it names: problems of one kind share it."""
        return ROW_REFERENCE.sub("", self.expected)


class InputError(Exception):
    """Bad input from the user: one or more problems, all reported together."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__(self.message())

    def message(self) -> str:
        """Every problem when there are few; else one line per column and kind of problem (30 repeated ids
        are one line, not 30; the CSV that `write_csv` writes has every one)."""
        if len(self.problems) <= LIST_ALL_UP_TO:
            return "\n".join(str(p) for p in self.problems)
        groups: dict[tuple, list[Problem]] = {}
        for problem in self.problems:
            groups.setdefault((problem.file, problem.column, problem.contract_column, problem.kind), []).append(problem)
        lines = []
        for (file, column, contract_column, expected), found in groups.items():
            rows = [str(p.row) for p in found if p.row is not None]
            where = f"{file}, column '{column}'" if column else file
            if contract_column:
                where += f" (contract column '{contract_column}')"
            example = f"; rows {', '.join(rows[:5])}{', ...' if len(rows) > 5 else ''}" if rows else ""
            lines.append(f"{where}: {len(found)} problem(s), expected {expected}{example} (e.g. found {found[0].found})")
        return "\n".join(lines)

    def write_csv(self, path) -> None:
        """Every problem, one row each: file, row, column, contract_column, found, expected."""
        import csv
        import io

        from analysis.core.files import write_text_atomic

        handle = io.StringIO(newline="")
        writer = csv.writer(handle)
        writer.writerow(["file", "row", "column", "contract_column", "found", "expected"])
        for p in self.problems:
            writer.writerow([p.file, "" if p.row is None else p.row, p.column or "", p.contract_column or "",
                             p.found, p.expected])
        write_text_atomic(Path(path), handle.getvalue())  # its folder made if missing; never half-written
