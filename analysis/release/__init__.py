"""The release: statistical disclosure control for what a trust shares, split by the kind of number each
module controls. The rule itself, all of it, is the docstring of `rules.py`; a reader starts there.

- `rules.py`: the rule, its presets, the count functions every module uses, the small-group merge;
- `step.py`: one analysis step's tables under control together, and blanking with its reason and log;
- `counts.py`: counts (rounded, small ones blank, pinned groups blanked too);
- `models.py`: model estimates fitted on person-level data;
- `curves.py`: curves and their summaries (medians, shares at fixed times, restricted means);
- `from_counts.py`: statistics recomputed from published counts, with intervals that hold for them;
- `referee.py`: capacity and the referee's analyses (rule 11);
- `keys.py`: the key results, read from the controlled tables;
- `log.py`: the output checker's verdicts and the local record of class disclosure;
- `control.py`: `control_step`, which sends each table of a step to its rule.

Imports run down this list: each module uses only those above it.
"""
from analysis.release.control import control_step
from analysis.release.counts import control_counts_table
from analysis.release.curves import RELEASE_NOTE_STARTS
from analysis.release.log import class_disclosure_cells, verdicts
from analysis.release.rules import (COUNT_COLUMNS, PRESETS, Disclosure, merge_small_groups, month_window_problem,
                                    preset, published_counts, whole_month_window)

__all__ = ["COUNT_COLUMNS", "PRESETS", "RELEASE_NOTE_STARTS", "Disclosure", "class_disclosure_cells",
           "control_counts_table", "control_step", "merge_small_groups", "month_window_problem", "preset",
           "published_counts", "verdicts", "whole_month_window"]
