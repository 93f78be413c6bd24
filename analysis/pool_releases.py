"""Reading and checking the releases `ips-analysis pool` combines (analysis/pool.py): each results folder read
into a Service (its run_info, key results and tables as published), and every refusal at once (mixed package
versions or disclosure rules, the same release or service twice).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from analysis.core.errors import InputError, Problem


RELEASE = "a results folder written by `ips-analysis run` (run_info.csv, key_results.csv)"


@dataclass
class Service:
    name: str
    source: str  # the folder or site table as given
    folder: Path | None
    info: dict  # run_info.csv
    key: pd.DataFrame  # key_results.csv

    def table(self, name: str) -> pd.DataFrame | None:
        """A released table, or None when the release has no such file."""
        path = self.folder / f"{name}.csv"
        return pd.read_csv(path) if path.exists() else None


# --- reading and checking the releases -------------------------------------------------------------------

def _fingerprint(folder: Path) -> str:
    from analysis.book.reporting import Results

    return Results(folder).fingerprint()


def read_release(folder: Path) -> Service:
    """A service's release, or an InputError naming the folder when it is not one."""
    source = str(folder)
    missing = [name for name in ("run_info.csv", "key_results.csv") if not (folder / name).is_file()]
    if not folder.is_dir() or missing:
        found = "no such folder" if not folder.is_dir() else f"no {' and no '.join(missing)}"
        raise InputError([Problem(source, None, None, f"not a results folder ({found})", RELEASE)])
    info = pd.read_csv(folder / "run_info.csv", dtype=str, keep_default_na=False)
    info = dict(zip(info.get("item", []), info.get("value", [])))
    if "pooled_services" in info:
        raise InputError([Problem(source, None, None, "a pooled results folder (written by `ips-analysis pool`)",
                                  "a service's own release: " + RELEASE)])
    absent = [item for item in ("service_name", "package_version", "disclosure", "extract_date") if item not in info]
    if absent:
        raise InputError([Problem(source, None, "run_info.csv", f"no {', '.join(absent)}", RELEASE)])
    key = pd.read_csv(folder / "key_results.csv", keep_default_na=False, na_values=[""], dtype={"level": str})
    return Service(info["service_name"], source, folder, info, key)


def _minor(version_text: str) -> str:
    return ".".join(version_text.split(".")[:2])


def check_releases(services: list[Service], internal: bool) -> None:
    """Every refusal at once: versions, disclosure rules, the same release or service twice."""
    problems, ours = [], version("ips-outcomes")
    first = services[0]
    seen_content, seen_name = {}, {}
    for s in services:
        if _minor(s.info["package_version"]) != _minor(ours):
            problems.append(Problem(s.source, None, "package_version", s.info["package_version"],
                                    f"a release of ips-outcomes {_minor(ours)}.x, the version pooling it (its measures "
                                    "and definitions may differ in another version)"))
        if s.info["disclosure"] != first.info["disclosure"]:
            mine, theirs = (x.info["disclosure"].split(":")[0] for x in (s, first))
            if mine == theirs:  # the same preset with different protections: show the rules whole
                mine, theirs = s.info["disclosure"], first.info["disclosure"]
            problems.append(Problem(s.source, None, "disclosure", f"the rule '{mine}'",
                                    f"the same rule as {first.source} ('{theirs}')"))
        elif s.info["disclosure"].startswith("none") and not internal:
            problems.append(Problem(s.source, None, "disclosure", "'none' (results not disclosure-controlled)",
                                    "a release made with --disclosure nhs; --internal pools unreleased results "
                                    "within one organisation"))
        digest = _fingerprint(s.folder)
        if digest in seen_content:
            problems.append(Problem(s.source, None, None, f"the same files as {seen_content[digest]}",
                                    "each service's release once"))
        elif s.name in seen_name:
            problems.append(Problem(s.source, None, "service_name", f"'{s.name}', as {seen_name[s.name]} has",
                                    "each service once (name each at `ips-analysis run --service-name`)"))
        seen_content.setdefault(digest, s.source)
        seen_name.setdefault(s.name, s.source)
    if problems:
        raise InputError(problems)
