"""The release's entry point for one analysis step: each kind of number to its own rule, and a fail-safe for
tables without one (rule 10 of analysis/release/rules.py).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.questions import access, sites
from analysis.release.counts import _counts_only
from analysis.release.curves import _competing_step, _survival_step
from analysis.release.from_counts import _access_step, _outcome_step, _sites_step
from analysis.release.keys import _key_rows
from analysis.release.referee import _referee_step, REFEREE_TABLES
from analysis.release.rules import COUNT_COLUMNS, Disclosure
from analysis.release.step import _hide, Step


def control_step(tables: dict[str, pd.DataFrame], keys: list[dict], rule: Disclosure,
                 published: dict[str, pd.DataFrame] | None = None
                 ) -> tuple[dict[str, pd.DataFrame], list[dict], list[dict]]:
    """Control one analysis step's tables and key rows together: (tables, key rows, log rows). `published`:
    the tables of the steps before, as published (rule 11 reads group visibility and p-values from them)."""
    if not rule.active:
        return tables, keys, []
    step = Step(tables, rule)
    if any(name.startswith(REFEREE_TABLES) for name in tables):
        _referee_step(step, published or {})
    replaced = None
    for prefix in ("employment", "in_work"):
        if any(name.startswith(prefix + "_") for name in tables):
            _survival_step(prefix, step)
    if any(name.startswith("outcome") for name in tables):
        _outcome_step(step)
    if "competing_gray" in tables:
        _competing_step(step)
    recomputing = [(_access_step, prefix, f"{prefix}_composition") for prefix in access.SOURCES]
    recomputing += [(_sites_step, prefix, f"{prefix}_rates") for prefix in sites.SOURCES]
    for control, prefix, table in recomputing:
        if table in tables:
            recomputed = control(step, keys, prefix)
            if rule.has("published_counts"):  # their key rows, recomputed (none: every such row is blank)
                replaced = (replaced or []) + recomputed
    for name, table in tables.items():
        if name not in step.out:  # fail-safe: a table without a rule keeps only its rounded counts
            out = _counts_only(name, table, step)
            statistics = [c for c in out.columns if c not in COUNT_COLUMNS and pd.api.types.is_float_dtype(out[c])]
            step.out[name] = _hide(out, np.ones(len(out), dtype=bool), statistics, name, step,
                                   "no disclosure rule for this table")
    key_rows = _key_rows(keys, step, rule, replaced)
    unruled = sum(1 for k in key_rows if str(k["method"]).endswith("no disclosure rule for this measure"))
    step.note("key_results", "value", "suppressed", unruled, "no disclosure rule for this measure")
    hidden = sum(1 for k in key_rows if k.get("suppressed")) - unruled
    step.note("key_results", "value; conf_low; conf_high", "suppressed", hidden,
              "the statistic is hidden in the table it comes from")
    step.note("key_results", "value; conf_low; conf_high; n", "read from the controlled tables or recomputed by the same rule",
              len(key_rows) - hidden, "one number in every file")
    for name, table in step.out.items():
        if "suppressed" not in table:
            step.out[name] = table.assign(suppressed="")
    return step.out, key_rows, step.log
