"""The same fits with the reference Python fitters (lifelines, statsmodels) on person-level rows, for the
benchmark. Usage: python bench/reference_fits.py EXTRACT.csv EXTRACT_DATE"""
import sys

import pandas as pd
import statsmodels.api as sm
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test

from analysis.questions import employment, in_work, outcome
from analysis.core.contract import FACTORS
from analysis.data.load import load_extract

date = pd.Timestamp(sys.argv[2])
data = load_extract(sys.argv[1], date)
frames = [(employment.employment_times(data, date), "employed"), (in_work.support_times(data, date), "discharged")]
for frame, event in frames:
    KaplanMeierFitter().fit(frame["days"], frame[event])
    for factor in FACTORS:
        known = frame[frame[factor].astype(str) != "Not known"]
        multivariate_logrank_test(known["days"], known[factor].astype(str), known[event])
        design = pd.get_dummies(known[[factor]].astype(str), drop_first=True, dtype=float)
        CoxPHFitter().fit(pd.concat([known[["days", event]], design], axis=1), "days", event)
    known = frame[(frame[list(FACTORS)].astype(str) != "Not known").all(axis=1)]
    design = pd.get_dummies(known[list(FACTORS)].astype(str), drop_first=True, dtype=float)
    CoxPHFitter().fit(pd.concat([known[["days", event]], design], axis=1), "days", event)
people = data[(data[list(FACTORS)].astype(str) != "Not known").all(axis=1)]
x = sm.add_constant(pd.get_dummies(people[list(FACTORS)].astype(str), drop_first=True, dtype=float))
sm.GLM(outcome.positive(people).to_numpy(), x, family=sm.families.Binomial()).fit()
print(f"reference fits done on {len(data)} rows")
