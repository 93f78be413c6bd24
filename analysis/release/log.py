"""The output-checking record: a verdict per shared file for the trust's output checker (`verdicts`), and the
class-disclosure cells for the trust's local record only (`class_disclosure_cells`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.release.rules import ALL_PROTECTIONS, Disclosure


# Where each table keeps a group's size and its outcome count (binary outcome or events).
CLASS_SOURCES = {"outcome_rates": ("n", "positive"), "outcome_12m_window_rates": ("n", "positive"),
                 "employment_by_group": ("n", "events"), "in_work_by_group": ("n", "events"),
                 "sites_rates": ("referrals", "jobs"), "own_sites_rates": ("referrals", "jobs")}


def class_disclosure_cells(tables: dict[str, pd.DataFrame], rule: Disclosure) -> pd.DataFrame:
    """The groups of these (uncontrolled) tables in which nobody or everybody had the outcome, with 8 or more
    people: where the class-disclosure rule applies (blank when hidden). For the trust's local record only:
    the shared log says that the rule holds, not where, which would tell the outcome it hides."""
    rows = []
    for name, (size, count) in CLASS_SOURCES.items():
        table = tables.get(name)
        if table is None or not len(table) or not rule.active:
            continue
        n, k = table[size].to_numpy(dtype=float), table[count].to_numpy(dtype=float)
        hit = (n >= rule.min_people) & ((k == 0) | (k == n))
        for i in np.flatnonzero(hit):
            r = table.iloc[i]
            rows.append({"file": f"{name}.csv", "factor": r.get("factor", "site"), "level": r.get("level", r.get("site")),
                         "people": int(n[i]), "had_the_outcome": "nobody" if k[i] == 0 else "everybody",
                         "action": "hidden (class disclosure)" if rule.class_disclosure else "shown (--class-disclosure show)"})
    return pd.DataFrame(rows, columns=["file", "factor", "level", "people", "had_the_outcome", "action"])


def verdicts(log: pd.DataFrame, files: list[str], rule: Disclosure) -> pd.DataFrame:
    """One verdict per shared file, as an output checker would write it."""
    rows = []
    for file in sorted(files):
        mine = log[log["file"] == file] if len(log) else log
        failsafe = mine["rule"].str.contains("no disclosure rule").any() if len(mine) else False
        review = (mine["action"] == "review").any() if len(mine) else False
        if not rule.active:
            verdict = "not for release: no disclosure control (synthetic or internal data)"
        elif failsafe:
            verdict = "review: statistics blanked because no disclosure rule covers them"
        elif review:
            verdict = "review before release: " + "; ".join(mine.loc[mine["action"] == "review", "rule"])
        elif rule.protections != ALL_PROTECTIONS:
            verdict = "not for release: protections switched off (" + ", ".join(sorted(ALL_PROTECTIONS - rule.protections)) + ")"
        else:
            verdict = "safe to release under the rule: " + rule.name
        rows.append({"file": file, "column": "(file)", "action": "verdict",
                     "cells": int(mine["cells"].sum()) if len(mine) else 0, "rule": verdict})
    if rule.active:
        rows.append({"file": "(every file)", "column": "(groups)", "action": "class disclosure", "cells": 0,
                     "rule": ("a group in which nobody or everybody had the outcome is blank as a small one is "
                              "(--class-disclosure hide); where it applied is in the run's local record only"
                              if rule.class_disclosure else "groups in which nobody or everybody had the outcome "
                              "are shown (--class-disclosure show): the IG lead's decision")})
        rows.append({"file": "figures/*.png", "column": "(file)", "action": "verdict", "cells": 0,
                     "rule": "safe to release: drawn only from the controlled tables above (curves, rates, group sizes as published)"})
    return pd.DataFrame(rows)
